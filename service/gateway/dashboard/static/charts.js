// Draws the day page's charts from its JSON data block (<script type="application/json"
// id="chart-data">), which the server filled; nothing here builds HTML from data.
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  if (!node || !window.Chart) { return; }
  var data = JSON.parse(node.textContent);
  var css = getComputedStyle(document.documentElement);
  function color(name, fallback) { return css.getPropertyValue(name).trim() || fallback; }
  var ink = color("--ink", "#1b1f24");
  var accent = color("--accent", "#1f5fa8");
  var accent2 = color("--accent-2", "#b3541e");
  var muted = color("--muted-bar", "#8fb3dc");
  Chart.defaults.color = ink;
  Chart.defaults.font.family = css.getPropertyValue("font-family");
  Chart.defaults.animation = false;
  Chart.defaults.locale = node.getAttribute("data-locale") || "en-US";  // tick numbers as in the reports

  function short(label, width) {
    var max = width < 480 ? 15 : 26;
    return label.length > max ? label.slice(0, max - 1) + "\u2026" : label;
  }

  function tooltip(series) {
    return {
      callbacks: {
        label: function (item) {
          var s = series[item.datasetIndex];
          return s.label + ": " + s.shown[item.dataIndex];
        }
      }
    };
  }

  function axisTitle(text) { return { display: true, text: text, color: ink }; }

  function bars(c, canvas) {
    return {
      type: "bar",
      data: {
        labels: c.labels,
        datasets: c.datasets.map(function (s) {
          return { label: s.label, data: s.data, backgroundColor: accent, borderRadius: 3, maxBarThickness: 28 };
        })
      },
      options: {
        indexAxis: "y", responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false }, tooltip: tooltip(c.datasets) },
        scales: {
          x: { beginAtZero: true, title: axisTitle(c.axis) },
          y: { ticks: { autoSkip: false, callback: function (v) { return short(this.getLabelForValue(v), canvas.clientWidth); } } }
        }
      }
    };
  }

  function history(c) {
    var revenue = c.datasets[0], trailing = c.datasets[1];
    return {
      data: {
        labels: c.labels,
        datasets: [
          { type: "bar", label: revenue.label, data: revenue.data, order: 2, borderRadius: 3, maxBarThickness: 40,
            backgroundColor: c.labels.map(function (d) { return d === c.highlight ? accent : muted; }) },
          { type: "line", label: trailing.label, data: trailing.data, order: 1, borderColor: accent2,
            backgroundColor: accent2, borderWidth: 2, pointRadius: 3, spanGaps: true }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false,
        plugins: { legend: { position: "bottom" }, tooltip: tooltip(c.datasets) },
        scales: { y: { beginAtZero: true, title: axisTitle(c.axis) }, x: { ticks: { maxRotation: 60 } } }
      }
    };
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var c = data[canvas.getAttribute("data-chart")];
    if (!c) { return; }
    if (c.type !== "history") {
      canvas.parentNode.style.height = Math.max(120, c.labels.length * 30 + 70) + "px";
    }
    new Chart(canvas, c.type === "history" ? history(c) : bars(c, canvas));
  });
})();
