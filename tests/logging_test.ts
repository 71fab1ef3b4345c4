import assert from "node:assert/strict";
import { csvLines } from "../core/io/csv.ts";
import { CsvLog, trainingLogColumns } from "../core/io/csv_log.ts";
import { duration, Progress } from "../core/io/progress.ts";
import { lineChartSvg } from "../core/io/svg_chart.ts";

Deno.test("csvLines quotes commas, quotes and newlines; writes non-finite numbers readably", () => {
  assert.equal(
    csvLines([["a,b", 'say "hi"', "x\ny", 1.5, NaN, Infinity, undefined]]),
    '"a,b","say ""hi""","x\ny",1.5,nan,inf,\n',
  );
});

Deno.test("CsvLog writes header and rows, rejects unknown columns, draws the chart", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const columns = trainingLogColumns(["loss", "rec_loss"]);
    assert.deepEqual(columns, [
      "step",
      "epoch",
      "loss",
      "rec_loss",
      "lr",
      "grad_norm",
      "tokens_per_s",
      "wall_s",
    ]);
    const log = CsvLog.create(`${dir}/train.csv`, columns);
    for (let step = 1; step <= 20; step++) {
      log.append({ step, epoch: 0, loss: 3 / step, rec_loss: 2 / step, lr: 1e-3, wall_s: step });
    }
    assert.throws(() => log.append({ step: 21, los: 1 }), /no column "los"/);
    log.close();
    const lines = Deno.readTextFileSync(`${dir}/train.csv`).trimEnd().split("\n");
    assert.equal(lines.length, 21);
    assert.equal(lines[0], columns.join(","));
    assert.equal(lines[2], "2,0,1.5,1,0.001,,,2");
    const svg = Deno.readTextFileSync(`${dir}/train.svg`);
    assert.equal(log.chartPath, `${dir}/train.svg`);
    assert.equal(svg.match(/<polyline class="series"/g)?.length, 2, "one curve per loss column");
    assert.match(svg, /data-name="rec_loss"/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("lineChartSvg maps data to the plot box and skips non-finite points", () => {
  const svg = lineChartSvg([{ name: "l", points: [[0, 1], [5, NaN], [10, 0]] }], {
    width: 400,
    height: 300,
  });
  const points = svg.match(/points="([^"]*)"/)![1].split(" ").map((p) => p.split(",").map(Number));
  assert.equal(points.length, 2);
  // margins: left 64, right 150, top 36, bottom 48 → plot x ∈ [64, 250], y ∈ [36, 252].
  assert.deepEqual(points, [[64, 36], [250, 252]]);
  assert.ok(!svg.includes("NaN"));
});

Deno.test("Progress: plain lines off a TTY, throttled, with ETA", () => {
  let t = 0;
  const out: string[] = [];
  const p = new Progress(100, {
    label: "train",
    write: (s) => out.push(s),
    isTty: false,
    now: () => t,
    intervalS: 10,
  });
  t = 5000;
  p.update(10, "loss 2.5");
  t = 6000;
  p.update(20); // throttled: less than 10 s since the last line
  t = 20000;
  p.update(40);
  p.finish();
  assert.equal(out.length, 3);
  assert.equal(out[0], "train 10/100 (10.0%) 2.00/s elapsed 0:05 eta 0:45 | loss 2.5\n");
  assert.match(out[1], /^train 40\/100 .* eta 0:30\n$/);
  assert.ok(out.every((l) => !l.includes("\r")));
});

Deno.test("Progress: a run stopped early finishes at the steps it did, not at the total", () => {
  const out: string[] = [];
  const p = new Progress(494, { write: (s) => out.push(s), isTty: false, now: () => 2000 });
  p.finish("stopped: max-steps", 2);
  assert.match(out[0], /^2\/494 \(0\.4%\) .*\| stopped: max-steps\n$/);
});

Deno.test("Progress: one line rewritten in place on a TTY", () => {
  let t = 0;
  const out: string[] = [];
  const p = new Progress(4, { write: (s) => out.push(s), isTty: true, now: () => t });
  for (let i = 1; i <= 4; i++) {
    t += 1000;
    p.update(i);
  }
  p.finish();
  assert.ok(out.every((l) => l.startsWith("\r\x1b[2K")));
  assert.ok(out.slice(0, -1).every((l) => !l.endsWith("\n")));
  assert.ok(out.at(-1)!.endsWith("\n"));
  assert.equal(duration(3725), "1:02:05");
  assert.equal(duration(NaN), "?");
});
