// kspyder report: draws the topology diagrams (Cytoscape.js) and the charts (plotly.js) from
// the JSON embedded in the page, then writes what it drew into #render-status, so a headless
// browser can check the result without a debugger connection.
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (event) { errors.push(String(event.message)); });
  var consoleError = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };

  function json(id) { return JSON.parse(document.getElementById(id).textContent); }

  var HOP_COLOURS = {
    VirtualAppliance: "#d9480f", Internet: "#1971c2", VnetLocal: "#2f9e44",
    VirtualNetworkGateway: "#7048e8", None: "#868e96"
  };
  var STYLE = [
    { selector: "node", style: {
      "label": "data(label)", "text-wrap": "wrap", "font-size": 9, "text-valign": "center",
      "text-halign": "center", "width": 92, "height": 34, "shape": "round-rectangle",
      "background-color": "#e9ecef", "border-width": 1, "border-color": "#adb5bd" } },
    { selector: ".vnet", style: { "background-color": "#343a40", "color": "#fff", "width": 120 } },
    { selector: ".subnet", style: { "background-color": "#d0ebff" } },
    { selector: ".routetable", style: { "background-color": "#fff3bf", "shape": "hexagon" } },
    { selector: ".route", style: { "background-color": "#f8f9fa", "font-size": 8 } },
    { selector: "edge", style: { "width": 1, "line-color": "#adb5bd", "target-arrow-shape": "triangle",
      "target-arrow-color": "#adb5bd", "curve-style": "bezier", "arrow-scale": 0.6 } }
  ];
  Object.keys(HOP_COLOURS).forEach(function (kind) {
    STYLE.push({ selector: ".hop-" + kind, style: {
      "background-color": HOP_COLOURS[kind], "color": "#fff", "shape": "ellipse" } });
  });

  function drawDiagrams() {
    var vnets = json("topology-data");
    var grid = document.getElementById("topology");
    vnets.forEach(function (vnet, i) {
      var card = document.createElement("figure");
      card.className = "vnet-card";
      var caption = document.createElement("figcaption");
      caption.textContent = vnet.name + " · " + vnet.location + " · " + vnet.subnets +
        " subnets · " + vnet.routes + " routes";
      var box = document.createElement("div");
      box.className = "vnet-diagram";
      box.id = "vnet-" + i;
      box.setAttribute("data-vnet", vnet.name);
      card.appendChild(caption);
      card.appendChild(box);
      grid.appendChild(card);
      var cy = cytoscape({
        container: box, elements: vnet.elements, style: STYLE,
        layout: { name: "breadthfirst", directed: true, roots: "#vnet", spacingFactor: 0.85 },
        userZoomingEnabled: false, boxSelectionEnabled: false, autoungrabify: true
      });
      box.setAttribute("data-nodes", String(cy.nodes().length));
      box.setAttribute("data-edges", String(cy.edges().length));
      box.setAttribute("data-rendered", "1");
    });
  }

  function drawCharts() {
    var specs = document.querySelectorAll("script.chart-spec");
    return Promise.all(Array.prototype.map.call(specs, function (script) {
      var spec = JSON.parse(script.textContent);
      var target = document.getElementById(script.getAttribute("data-target"));
      return Plotly.newPlot(target, spec.data, spec.layout, { displaylogo: false, responsive: true });
    }));
  }

  function status() {
    var charts = {};
    document.querySelectorAll(".chart").forEach(function (div) {
      charts[div.id] = (div.data || []).map(function (trace) {
        return { name: trace.name || "", x: Array.from(trace.x || []), y: Array.from(trace.y || []) };
      });
    });
    var diagrams = document.querySelectorAll(".vnet-diagram[data-rendered='1']");
    return {
      diagrams: diagrams.length,
      vnets: Array.prototype.map.call(diagrams, function (d) {
        return { name: d.getAttribute("data-vnet"), nodes: Number(d.getAttribute("data-nodes")),
                 edges: Number(d.getAttribute("data-edges")) };
      }),
      charts: charts,
      errors: errors
    };
  }

  function done(extra) {
    var result = status();
    if (extra) { result.errors.push(extra); }
    var out = document.getElementById("render-status");
    out.textContent = JSON.stringify(result);
    out.setAttribute("data-done", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    try { drawDiagrams(); } catch (e) { errors.push("diagrams: " + e); }
    drawCharts().then(function () { done(); }, function (e) { done("charts: " + e); });
  });
})();
