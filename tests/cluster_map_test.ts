import { assert, assertEquals } from "./assert.ts";
import { unzlibSync } from "fflate";
import { escapeXml, mapHtml, mapSvg } from "../tasks/cluster/map.ts";
import type { HierarchyNode } from "../tasks/cluster/hierarchy.ts";
import { isCI } from "./shared_data.ts";

const CHROMIUM = ["chromium", "chromium-browser", "google-chrome"].find((c) => {
  try {
    return new Deno.Command(c, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
});

function label(central: string, terms: string[]): HierarchyNode["label"] {
  return { centralIndex: 0, central, terms };
}

function example() {
  const n = 60;
  const xy = new Float64Array(2 * n);
  const labels: number[] = [];
  const texts: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    xy[2 * i] = c * 10 + Math.cos(i);
    xy[2 * i + 1] = (c === 1 ? 8 : 0) + Math.sin(i);
    labels.push(c);
    texts.push(`text ${i} <b>&"${c}"`);
  }
  const nodes: HierarchyNode[] = [
    ...[0, 1, 2].map((c): HierarchyNode => ({
      id: `c${c}`,
      level: 0,
      parent: "root",
      size: 20,
      label: label(`central ${c}`, [`term${c}`]),
      children: [],
      members: labels.flatMap((l, i) => (l === c ? [i] : [])),
    })),
    {
      id: "root",
      level: 1,
      parent: null,
      size: n,
      label: label("all", ["all"]),
      children: ["c0", "c1", "c2"],
    },
  ];
  return {
    map: { xy, labels, texts, clusterNames: ["food", "sport", "space"], title: "test map" },
    nodes,
  };
}

Deno.test("mapSvg: one circle per point with its escaped text as hover title, labels at centroids", () => {
  const { map } = example();
  const svg = mapSvg(map);
  assertEquals(svg.match(/<circle /g)?.length, 60);
  assert(svg.includes(`<title>[c0] ${escapeXml('text 0 <b>&"0"')}</title>`), "hover text, escaped");
  assert(!svg.includes("<b>"), "no raw markup from the texts");
  for (const name of ["food", "sport", "space"]) {
    assert(svg.includes(`class="lbl">${name}</text>`), name);
  }
  assertEquals(escapeXml(`<&>"'`), "&#60;&#38;&#62;&#34;&#39;");
});

/** RGB(A) pixels of an 8-bit PNG (filters undone), for the screenshot check. */
function pngPixels(
  png: Uint8Array,
): { width: number; height: number; channels: number; pixels: Uint8Array } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let offset = 8, width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  while (offset < png.length) {
    const length = view.getUint32(offset);
    const type = new TextDecoder().decode(png.subarray(offset + 4, offset + 8));
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      assertEquals(data[8], 8, "bit depth");
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert(channels > 0, `colour type ${data[9]}`);
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  const joined = new Uint8Array(idat.reduce((s, d) => s + d.length, 0));
  idat.reduce((o, d) => (joined.set(d, o), o + d.length), 0);
  const raw = unzlibSync(joined);
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      pixels[y * stride + x] = (v + predictor) & 255;
    }
  }
  return { width, height, channels, pixels };
}

Deno.test({
  name:
    "map.html renders in headless Chromium: the screenshot is not blank and shows the cluster colours (needs chromium; ignored without it, except in CI)",
  ignore: CHROMIUM === undefined && !isCI(),
  fn: async () => {
    if (!CHROMIUM) throw new Error("CI: this test needs chromium (Debian package `chromium`)");
    const dir = Deno.makeTempDirSync();
    const { map, nodes } = example();
    Deno.writeTextFileSync(`${dir}/map.html`, mapHtml(map, nodes, { clusters: 3, nmi: 1 }));
    const out = await new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        `--screenshot=${dir}/shot.png`,
        "--window-size=1200,900",
        `file://${dir}/map.html`,
      ],
      stdout: "null",
      stderr: "null",
      env: { HOME: dir },
    }).output();
    assert(out.success, `chromium exited with ${out.code}`);
    const { width, height, channels, pixels } = pngPixels(Deno.readFileSync(`${dir}/shot.png`));
    assertEquals([width, height], [1200, 900]);
    let nonWhite = 0, saturated = 0;
    const colours = new Set<number>();
    for (let i = 0; i < width * height; i++) {
      const [r, g, b] = pixels.subarray(i * channels, i * channels + 3);
      if (r < 240 || g < 240 || b < 240) nonWhite++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) {
        saturated++;
        colours.add((r >> 4) << 8 | (g >> 4) << 4 | (b >> 4));
      }
    }
    assert(nonWhite > 2000, `only ${nonWhite} non-white pixels`);
    // Three saturated cluster hues (and their anti-aliased edges), not a grey page of text alone:
    // 60 dots of radius 3.5 cover ~2 300 pixels; text anti-aliasing adds only faint fringes.
    assert(colours.size >= 3, `${colours.size} saturated colours`);
    assert(saturated > 1500, `${saturated} saturated pixels`);
  },
});
