/**
 * The cluster map: a static SVG scatter of the 2-D projection coloured by cluster, with each
 * cluster's label at its centroid and each point's text as its hover title; and a self-contained
 * HTML page holding that SVG, the scores and the hierarchy as a collapsible tree (`<details>`, no
 * script, no network).
 *
 * @module
 */
import type { HierarchyNode } from "./hierarchy.ts";

/** What the map draws. */
export interface MapInput {
  /** `[n, 2]` projected coordinates. */
  xy: Float64Array;
  /** Cluster of each point (−1 noise). */
  labels: ArrayLike<number>;
  /** Hover text per point. */
  texts: readonly string[];
  /** Label text per cluster. */
  clusterNames: readonly string[];
  title: string;
}

const WIDTH = 960, HEIGHT = 720, MARGIN = 30;

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** `&<>"'` escaped for XML text and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Colour of cluster `c` (golden-angle hues; noise grey). */
export function clusterColour(c: number): string {
  return c < 0 ? "#b0b0b0" : `hsl(${(c * 137.508) % 360},65%,${c % 2 ? 42 : 55}%)`;
}

/** The SVG document. */
export function mapSvg(m: MapInput): string {
  const n = m.texts.length;
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, m.xy[2 * i]);
    maxX = Math.max(maxX, m.xy[2 * i]);
    minY = Math.min(minY, m.xy[2 * i + 1]);
    maxY = Math.max(maxY, m.xy[2 * i + 1]);
  }
  const sx = (WIDTH - 2 * MARGIN) / (maxX - minX || 1),
    sy = (HEIGHT - 2 * MARGIN) / (maxY - minY || 1);
  const px = (i: number) => (MARGIN + (m.xy[2 * i] - minX) * sx).toFixed(1);
  const py = (i: number) => (HEIGHT - MARGIN - (m.xy[2 * i + 1] - minY) * sy).toFixed(1);
  const r = n > 3000 ? 1.6 : n > 500 ? 2.4 : 3.5;
  const dots: string[] = [];
  const sums = new Map<number, [number, number, number]>();
  for (let i = 0; i < n; i++) {
    const c = m.labels[i];
    dots.push(
      `<circle cx="${px(i)}" cy="${py(i)}" r="${r}" fill="${clusterColour(c)}"><title>${
        escapeXml(`[${c < 0 ? "noise" : `c${c}`}] ${m.texts[i].slice(0, 300)}`)
      }</title></circle>`,
    );
    if (c >= 0) {
      const s = sums.get(c) ?? [0, 0, 0];
      sums.set(c, [s[0] + Number(px(i)), s[1] + Number(py(i)), s[2] + 1]);
    }
  }
  const names = [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([c, [x, y, k]]) =>
    `<text x="${clamp(x / k, 80, WIDTH - 80).toFixed(1)}" y="${
      clamp(y / k, 40, HEIGHT - 10).toFixed(1)
    }" class="lbl">${escapeXml(m.clusterNames[c] ?? `c${c}`)}</text>`
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" ` +
    `viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">\n` +
    `<style>.lbl{font-size:12px;font-weight:bold;text-anchor:middle;paint-order:stroke;` +
    `stroke:#fff;stroke-width:3px;fill:#222}</style>\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n` +
    `<text x="${MARGIN}" y="20" font-size="14">${escapeXml(m.title)}</text>\n` +
    `<g>${dots.join("\n")}</g>\n<g>${names.join("\n")}</g>\n</svg>\n`;
}

/** A one-line name of a node: the LLM's name, else its top terms, else its central text. */
export function nodeName(node: Pick<HierarchyNode, "label">): string {
  return node.label.llm ??
    (node.label.terms.slice(0, 3).join(", ") || node.label.central.slice(0, 40));
}

function treeHtml(nodes: readonly HierarchyNode[], texts: readonly string[]): string {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const render = (node: HierarchyNode, open: boolean): string => {
    const l = node.label;
    const decoded = l.decoded
      ? `<div>decoded from the mean state: <i>${escapeXml(l.decoded)}</i></div>`
      : "";
    const body = node.members
      ? `<ul>${
        node.members.slice(0, 8).map((i) => `<li>${escapeXml(texts[i].slice(0, 200))}</li>`).join(
          "",
        )
      }${node.members.length > 8 ? `<li>… ${node.members.length - 8} more</li>` : ""}</ul>`
      : node.children.map((c) => render(byId.get(c)!, false)).join("");
    return `<details${open ? " open" : ""}><summary><b>${escapeXml(node.id)}</b> (${node.size}) ` +
      `${escapeXml(nodeName(node))}</summary><div class="in"><div>central: <i>${
        escapeXml(l.central)
      }</i></div>${decoded}${body}</div></details>`;
  };
  return render(byId.get("root")!, true);
}

/** The self-contained HTML page. */
export function mapHtml(
  m: MapInput,
  nodes: readonly HierarchyNode[],
  summary: Record<string, unknown>,
): string {
  const rows = Object.entries(summary).map(([k, v]) =>
    `<tr><td>${escapeXml(k)}</td><td>${
      escapeXml(typeof v === "number" ? String(Number(v.toPrecision(4))) : String(v))
    }</td></tr>`
  ).join("");
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${
    escapeXml(m.title)
  }</title>\n` +
    `<style>body{font-family:sans-serif;margin:16px;color:#222}table{border-collapse:collapse}` +
    `td{padding:2px 8px;border-bottom:1px solid #ddd}.in{margin-left:18px}summary{cursor:pointer}` +
    `.wrap{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}</style></head>\n<body>\n` +
    `<h1>${escapeXml(m.title)}</h1>\n<div class="wrap"><div>${mapSvg(m)}</div>\n` +
    `<div><h2>Scores</h2><table>${rows}</table><h2>Hierarchy</h2>${treeHtml(nodes, m.texts)}` +
    `</div></div>\n</body></html>\n`;
}
