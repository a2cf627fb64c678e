"""Deterministic fake people shared by the demo ERP (SQLite) and the demo CRM (REST API).

Each person is generated from its own seeded ``random.Random`` so ``people(n + k)`` starts
with exactly ``people(n)``: the CRM can grow (``add_customers``) without rewriting history.
"""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Any

FIRST_NAMES = [
    "Jane", "John", "Marie", "Pierre", "Sophie", "Lucas", "Emma", "Hugo", "Léa", "Louis",
    "Chloé", "Gabriel", "Camille", "Jules", "Inès", "Arthur", "Zoé", "Nathan", "Anna", "Paul",
    "Lena", "Felix", "Hannah", "Jonas", "Lukas", "Mia", "Lucía", "Mateo", "Sofía", "Hugo",
    "Giulia", "Lorenzo", "Chiara", "Matteo", "Sara", "Noah", "Julie", "Thomas", "Eva", "Daan",
    "Sanne", "Bram", "Élodie", "François", "Amélie", "Jérôme", "Noémie", "Maël", "Clara", "Max",
]  # fmt: skip

LAST_NAMES = [
    "Doe", "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand",
    "Roux", "Vincent", "Fournier", "Müller", "Schmidt", "Schneider", "Fischer", "Weber",
    "Meyer", "Wagner", "Becker", "García", "Fernández", "López", "Martínez", "Sánchez",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "De Jong", "Jansen",
    "De Vries", "Van den Berg", "Peeters", "Janssens", "Maes", "D'Angelo", "Le Gall", "Nguyen",
]  # fmt: skip

STREETS: dict[str, list[str]] = {
    "FR": ["rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire", "rue des Lilas"],
    "DE": ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße"],
    "ES": ["Calle Mayor", "Avenida de América", "Calle de Alcalá"],
    "IT": ["Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele"],
    "BE": ["Rue Royale", "Meir", "Rue Neuve"],
    "NL": ["Kerkstraat", "Dorpsstraat", "Prinsengracht"],
}

# country code -> (weight, [(city, zip prefix)]); zips are padded with random digits
CITIES: dict[str, tuple[int, list[tuple[str, str]]]] = {
    "FR": (50, [("Paris", "7501"), ("Lyon", "6900"), ("Marseille", "130"), ("Toulouse", "310"),
                ("Lille", "590"), ("Nantes", "440"), ("Bordeaux", "330"), ("Rennes", "350")]),
    "DE": (15, [("Berlin", "101"), ("München", "803"), ("Hamburg", "200"), ("Köln", "506")]),
    "ES": (10, [("Madrid", "280"), ("Barcelona", "080"), ("Valencia", "460")]),
    "IT": (10, [("Roma", "001"), ("Milano", "201"), ("Torino", "101")]),
    "BE": (8, [("Bruxelles", "10"), ("Antwerpen", "20"), ("Liège", "40")]),
    "NL": (7, [("Amsterdam", "10"), ("Rotterdam", "30"), ("Utrecht", "35")]),
}  # fmt: skip

ZIP_LENGTH = {"FR": 5, "DE": 5, "ES": 5, "IT": 5, "BE": 4, "NL": 4}
FR_BANK_CODES = ["30004", "30003", "30002", "10278", "20041", "30006", "17515", "18206"]
_PHONE_MULTIPLIER = 37_970_981  # coprime with 10**8, so person_id -> phone number is a bijection


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters/digits only (accents stripped): 'Lefèvre' -> 'lefevre'."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]", "", stripped)


def fr_iban(bank: str, branch: str, account: str) -> str:
    """Build a checksum-valid French IBAN (RIB key + ISO 13616 check digits) without spaces."""
    rib_key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    bban = f"{bank}{branch}{account}{rib_key:02d}"
    check = 98 - int(bban + "152700") % 97  # "FR00" -> F=15, R=27, 00
    return f"FR{check:02d}{bban}"


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN string (spaces allowed)."""
    compact = iban.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _phone(person_id: int, seed: int) -> str:
    offset = random.Random(seed).randrange(10**8)
    digits = f"{(person_id * _PHONE_MULTIPLIER + offset) % 10**8:08d}"
    pairs = " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    return f"+33 6 {pairs}"


def _countries() -> tuple[list[str], list[int]]:
    codes = list(CITIES)
    return codes, [CITIES[c][0] for c in codes]


def person(person_id: int, seed: int = 42) -> dict[str, Any]:
    """Generate the single person ``person_id`` (stable whatever the population size)."""
    rng = random.Random(seed * 1_000_003 + person_id)
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    codes, weights = _countries()
    country = rng.choices(codes, weights)[0]
    city, zip_prefix = rng.choice(CITIES[country][1])
    zip_len = ZIP_LENGTH[country]
    zip_code = zip_prefix + "".join(
        str(rng.randrange(10)) for _ in range(zip_len - len(zip_prefix))
    )
    street = f"{rng.randint(1, 180)} {rng.choice(STREETS[country])}"
    account = f"{person_id:06d}{rng.randrange(10**5):05d}"
    iban = fr_iban(rng.choice(FR_BANK_CODES), f"{rng.randrange(10**5):05d}", account)
    return {
        "person_id": person_id,
        "first_name": first,
        "last_name": last,
        "email": f"{ascii_slug(first)}.{ascii_slug(last)}{person_id}@example.com",
        "phone": _phone(person_id, seed),
        "street": street,
        "city": city,
        "zip": zip_code,
        "country": country,
        "iban": iban,
    }


def people(n: int = 2000, seed: int = 42) -> list[dict[str, Any]]:
    """Return ``n`` deterministic people (person_id 1..n); unique email, phone and IBAN."""
    return [person(i, seed) for i in range(1, n + 1)]
