// The map: MapLibre GL JS drawing our own vector tiles (roads, jurisdictions, hazard zones) as the base map, with
// the store's incidents and units as GeoJSON sources. No text is drawn in WebGL (no glyph server is reachable):
// symbols are icons painted here on a canvas with the browser's own fonts, so Chinese and the grade numerals render;
// names live in the HTML panels and popups. Colour is never the only cue: each incident icon carries its category's
// shape and its grade's numeral; each unit its type's letter.
import { api, token } from "./auth.js";
import { t } from "./i18n.js";
import { store, isOpen, subscribe } from "./store.js";

/* global maplibregl */
export const GRADE_COLOURS = { I: "#d7191c", II: "#f28e2b", III: "#f2d22e", IV: "#2b7bd6", none: "#8a8a8a" };
const GRADE_RANK = { I: 0, II: 1, III: 2, IV: 3 };
export const UNIT_COLOURS = {
  available: "#2e9d4f", dispatched: "#7b4fc9", en_route: "#0a8fb0", on_scene: "#c2185b",
  transporting: "#6d4c41", at_hospital: "#6d4c41", out_of_service: "#8a8a8a",
};
const UNIT_LETTERS = { ambulance: "A", fire_engine: "E", engine: "E", police: "P", rescue: "R", hazmat: "H" };
const CENTRE = [104.066, 30.657]; // Chengdu's centre; the view then fits the incidents
const EMPTY = { type: "FeatureCollection", features: [] };
const LAYERS = {
  roads: ["roads-minor", "roads-major"],
  jurisdictions: ["jurisdictions-fill", "jurisdictions-line"],
  zones: ["zones-fill", "zones-line"],
  warnings: ["warnings-fill", "warnings-line"],
  impact: ["impact-fill", "impact-line"],
  tracks: ["tracks"],
  units: ["units"],
  incidents: ["incident-selected", "incidents"],
};

// A warning's level (DOMAIN.md: red, orange, yellow, blue), in the grades' colours.
const WARNING_COLOUR = ["match", ["get", "colour"], "red", "#d7191c", "orange", "#f28e2b", "yellow", "#f2d22e",
  "blue", "#2b7bd6", "#8a8a8a"];

function tiles(layer, maxzoom) {
  return { type: "vector", tiles: [`${location.origin}/api/v1/tiles/${layer}/{z}/{x}/{y}.pbf`], maxzoom };
}

export function style() {
  const minor = ["match", ["get", "highway"],
    ["motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"], false, true];
  return {
    version: 8,
    sources: {
      roads: tiles("roads", 16), jurisdictions: tiles("jurisdictions", 14), zones: tiles("zones", 14),
      warnings: tiles("warnings", 14),
      impact: { type: "geojson", data: EMPTY }, tracks: { type: "geojson", data: EMPTY },
      units: { type: "geojson", data: EMPTY }, incidents: { type: "geojson", data: EMPTY },
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#eef0ea" } },
      { id: "jurisdictions-fill", type: "fill", source: "jurisdictions", "source-layer": "jurisdictions",
        paint: { "fill-color": "#f7f6f0", "fill-opacity": 0.6 } },
      { id: "zones-fill", type: "fill", source: "zones", "source-layer": "zones",
        paint: { "fill-color": "#e8590c", "fill-opacity": 0.15 } },
      { id: "zones-line", type: "line", source: "zones", "source-layer": "zones",
        paint: { "line-color": "#e8590c", "line-width": 1.5, "line-dasharray": [2, 2] } },
      { id: "roads-minor", type: "line", source: "roads", "source-layer": "roads", filter: minor,
        paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 12, 0.5, 16, 4] } },
      { id: "roads-major", type: "line", source: "roads", "source-layer": "roads", filter: ["!", minor],
        paint: { "line-color": "#f6c667", "line-width": ["interpolate", ["linear"], ["zoom"], 8, 0.8, 16, 7] } },
      { id: "jurisdictions-line", type: "line", source: "jurisdictions", "source-layer": "jurisdictions",
        paint: { "line-color": "#6a5d8a", "line-width": 1.2, "line-dasharray": [3, 2] } },
      // Warnings in force (预警), by their level's colour; the tiles are asked again when a warning.* event arrives.
      { id: "warnings-fill", type: "fill", source: "warnings", "source-layer": "warnings",
        paint: { "fill-color": WARNING_COLOUR, "fill-opacity": 0.16 } },
      { id: "warnings-line", type: "line", source: "warnings", "source-layer": "warnings",
        paint: { "line-color": WARNING_COLOUR, "line-width": 2 } },
      { id: "impact-fill", type: "fill", source: "impact", paint: { "fill-color": "#d7191c", "fill-opacity": 0.07 } },
      { id: "impact-line", type: "line", source: "impact", paint: { "line-color": "#d7191c", "line-width": 1.5 } },
      { id: "tracks", type: "line", source: "tracks", paint: { "line-color": "#0a8fb0", "line-width": 2, "line-opacity": 0.6 } },
      { id: "units", type: "symbol", source: "units",
        layout: { "icon-image": ["get", "icon"], "icon-allow-overlap": true, "icon-size": ["interpolate", ["linear"], ["zoom"], 9, 0.6, 14, 1] } },
      { id: "incident-selected", type: "circle", source: "incidents", filter: ["==", ["get", "id"], -1],
        paint: { "circle-radius": 24, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#111", "circle-stroke-width": 3 } },
      { id: "incidents", type: "symbol", source: "incidents",
        layout: { "icon-image": ["get", "icon"], "icon-allow-overlap": true, "symbol-sort-key": ["get", "rank"] } },
    ],
  };
}

// --------------------------------------------------------------------------------------------- icons on a canvas

function canvas(size) {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  return [c, c.getContext("2d")];
}

function shape(ctx, category, s) {
  const m = s / 2;
  ctx.beginPath();
  if (category === "natural_disaster") { // triangle
    ctx.moveTo(m, 3); ctx.lineTo(s - 3, s - 5); ctx.lineTo(3, s - 5); ctx.closePath();
  } else if (category === "accident_disaster") { // diamond
    ctx.moveTo(m, 2); ctx.lineTo(s - 2, m); ctx.lineTo(m, s - 2); ctx.lineTo(2, m); ctx.closePath();
  } else if (category === "public_health") { // cross
    const a = s * 0.3, b = s * 0.7;
    ctx.moveTo(a, 3); ctx.lineTo(b, 3); ctx.lineTo(b, a); ctx.lineTo(s - 3, a); ctx.lineTo(s - 3, b); ctx.lineTo(b, b);
    ctx.lineTo(b, s - 3); ctx.lineTo(a, s - 3); ctx.lineTo(a, b); ctx.lineTo(3, b); ctx.lineTo(3, a); ctx.lineTo(a, a);
    ctx.closePath();
  } else if (category === "social_security") { // shield
    ctx.moveTo(4, 4); ctx.lineTo(s - 4, 4); ctx.lineTo(s - 4, m); ctx.quadraticCurveTo(s - 4, s - 6, m, s - 2);
    ctx.quadraticCurveTo(4, s - 6, 4, m); ctx.closePath();
  } else { // circle
    ctx.arc(m, m, m - 3, 0, Math.PI * 2);
  }
}

export function incidentIcon(grade, category) {
  const s = 64;
  const [c, ctx] = canvas(s);
  shape(ctx, category, s);
  ctx.fillStyle = GRADE_COLOURS[grade] || GRADE_COLOURS.none;
  ctx.fill();
  ctx.lineWidth = 4;
  ctx.strokeStyle = "#1b1b1b";
  ctx.stroke();
  ctx.fillStyle = grade === "III" ? "#1b1b1b" : "#ffffff";
  ctx.font = `bold ${grade && grade.length > 2 ? 18 : 22}px "Noto Sans CJK SC", sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(grade || "?", s / 2, category === "natural_disaster" ? s * 0.62 : s / 2 + 1);
  return c;
}

function unitIcon(type, status) {
  const s = 32;
  const [c, ctx] = canvas(s);
  ctx.beginPath();
  ctx.arc(s / 2, s / 2, s / 2 - 2, 0, Math.PI * 2);
  ctx.fillStyle = UNIT_COLOURS[status] || "#444";
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#ffffff";
  ctx.stroke();
  ctx.fillStyle = "#ffffff";
  ctx.font = 'bold 17px "Noto Sans CJK SC", sans-serif';
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(UNIT_LETTERS[type] || (type || "?")[0].toUpperCase(), s / 2, s / 2 + 1);
  return c;
}

function addIcon(map, id) {
  const [kind, a, b] = id.split(":");
  const c = kind === "inc" ? incidentIcon(a === "none" ? null : a, b) : unitIcon(a, b);
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height);
  map.addImage(id, { width: c.width, height: c.height, data: data.data }, { pixelRatio: 2 });
}

// ------------------------------------------------------------------------------------------------------ features

function incidentFeatures(filter) {
  const features = [];
  for (const i of store.incidents.values()) {
    if (!isOpen(i) || !filter(i)) continue;
    const grade = i.grade && i.grade.level;
    features.push({ type: "Feature", geometry: i.location, properties: {
      id: i.id, icon: `inc:${grade || "none"}:${i.category || "none"}`, rank: 10 - (GRADE_RANK[grade] ?? 4) } });
  }
  return { type: "FeatureCollection", features };
}

function unitFeatures() {
  const features = [];
  for (const u of store.units.values()) {
    if (!u.location) continue;
    features.push({ type: "Feature", geometry: u.location, properties: { id: u.id, icon: `unit:${u.type}:${u.status}` } });
  }
  return { type: "FeatureCollection", features };
}

function trackFeatures() {
  const features = [];
  for (const [id, points] of store.tracks) {
    if (points.length > 1) features.push({ type: "Feature", geometry: { type: "LineString", coordinates: points }, properties: { id } });
  }
  return { type: "FeatureCollection", features };
}

export function createMap({ container, onSelect, boardFilter }) {
  maplibregl.setWorkerUrl("/vendor/maplibre-gl/maplibre-gl-csp-worker.js");
  const map = new maplibregl.Map({
    container,
    style: style(),
    center: CENTRE,
    zoom: 11,
    attributionControl: false,
    // Every frame is drawn by the CPU where there is no GPU (a wall-screen PC, SwiftShader): no fading symbols, which
    // would redraw for 300 ms after each change.
    fadeDuration: 0,
    localIdeographFontFamily: "'Noto Sans CJK SC', 'Noto Sans SC', 'Microsoft YaHei', sans-serif",
    transformRequest: (url) => (url.startsWith(`${location.origin}/api/`)
      ? { url, headers: { Authorization: `Bearer ${token()}` } } : { url }),
  });
  map.addControl(new maplibregl.AttributionControl({
    compact: false,
    customAttribution: '© <a href="https://www.openstreetmap.org/copyright" target="_blank" rel="noopener">OpenStreetMap</a> contributors',
  }), "bottom-right");
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.on("styleimagemissing", (e) => addIcon(map, e.id));

  let loaded = false;
  let unitsDue = false;
  let lastUnits = 0;
  let fitted = false;
  const draw = { incidents: false, units: false };
  // What the map was last given to draw (the tests read it through window.__commandpost.map).
  const shown = { incidents: EMPTY, units: EMPTY };
  window.__commandpost.map = {
    incidentIds: () => shown.incidents.features.map((f) => f.properties.id),
    unitIcon: (id) => (shown.units.features.find((f) => f.properties.id === id) || { properties: {} }).properties.icon,
    loaded: () => loaded && map.loaded(),
    view: () => `${map.getCenter().lng.toFixed(5)},${map.getCenter().lat.toFixed(5)},${map.getZoom().toFixed(2)}`,
    warningIds: () => (loaded ? map.querySourceFeatures("warnings", { sourceLayer: "warnings" }) : [])
      .map((f) => f.properties.id ?? f.id),
  };
  let warningsVersion = 0;

  function flushUnits() {
    unitsDue = false;
    lastUnits = performance.now();
    shown.units = unitFeatures();
    map.getSource("units").setData(shown.units);
    map.getSource("tracks").setData(trackFeatures());
  }

  function render() {
    if (!loaded) return;
    if (draw.incidents) {
      draw.incidents = false;
      shown.incidents = incidentFeatures(boardFilter());
      map.getSource("incidents").setData(shown.incidents);
    }
    if (!fitted && store.ready) {
      // Once: the city (its units and open incidents) fills the view.
      fitted = true;
      const bounds = new maplibregl.LngLatBounds();
      for (const u of store.units.values()) if (u.location) bounds.extend(u.location.coordinates);
      for (const i of store.incidents.values()) if (isOpen(i)) bounds.extend(i.location.coordinates);
      if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 40, maxZoom: 14, duration: 0 });
    }
    if (draw.units) {
      draw.units = false;
      // 2,000 moving units: at most two redraws a second of the units' source.
      const wait = 500 - (performance.now() - lastUnits);
      if (wait <= 0) flushUnits();
      else if (!unitsDue) { unitsDue = true; setTimeout(flushUnits, wait); }
    }
  }

  subscribe((changes) => {
    if (changes.all || changes.incidents.size) draw.incidents = true;
    if (changes.all || changes.units.size) draw.units = true;
    if (changes.warnings && loaded) {
      // Issued, updated, cancelled or expired: the layer's tiles are asked for again (they are not cached).
      warningsVersion += 1;
      map.getSource("warnings").setTiles([`${location.origin}/api/v1/tiles/warnings/{z}/{x}/{y}.pbf?v=${warningsVersion}`]);
    }
    render();
  });

  map.on("load", () => {
    loaded = true;
    draw.incidents = draw.units = true;
    render();
  });
  map.on("click", "incidents", (e) => onSelect(e.features[0].properties.id));
  map.on("mouseenter", "incidents", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "incidents", () => { map.getCanvas().style.cursor = ""; });

  return {
    map,
    redrawIncidents() { draw.incidents = true; render(); },
    select(id, impact) {
      if (!loaded) return;
      map.setFilter("incident-selected", ["==", ["get", "id"], id ?? -1]);
      map.getSource("impact").setData(impact || EMPTY);
      const incident = store.incidents.get(id);
      if (incident) map.easeTo({ center: incident.location.coordinates, duration: 300 });
    },
    // The warning's whole area in view (its GeoJSON from GET /warnings/{id}).
    async showWarning(id) {
      const found = await api(`/api/v1/warnings/${id}`).catch(() => null);
      const area = found && found.area;
      if (!area || !loaded) return;
      const points = [];
      const walk = (c) => { if (typeof c[0] === "number") points.push(c); else c.forEach(walk); };
      walk(area.type === "FeatureCollection" ? area.features.map((f) => f.geometry.coordinates)
        : area.type === "Feature" ? area.geometry.coordinates : area.coordinates);
      if (!points.length) return;
      const xs = points.map((p) => p[0]);
      const ys = points.map((p) => p[1]);
      map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 40, duration: 300 });
    },
    toggle(name, visible) {
      for (const id of LAYERS[name]) map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
    },
    layerNames: Object.keys(LAYERS),
    label: (name) => t(`layer.${name}`),
  };
}
