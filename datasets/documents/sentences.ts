/**
 * Sentence splitting with the runtime's ICU segmenter (`Intl.Segmenter`), repaired where ICU
 * breaks too eagerly: after abbreviations ("Dr.", "e.g.") and initials ("J. R. R. Tolkien"), and
 * before citation marks that follow a full stop ("… in 1999.[4]").
 *
 * @module
 */

const ABBREVIATIONS = new Set(
  "mr mrs ms dr prof st sr jr vs etc e.g i.e cf no nos vol v fig figs al approx dept est inc ltd co corp gen col lt sgt rev hon mt ft jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k"
    .split(" "),
);

const segmenter = new Intl.Segmenter("en", { granularity: "sentence" });

/** Splits `text` into trimmed sentences (none empty). */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let pending = "";
  let carry = "";
  for (const { segment: raw } of segmenter.segment(text)) {
    // ICU keeps an opening bracket with the sentence before it ("… 1950.[" | "1] He …").
    const open = /[[(]+\s*$/.exec(raw);
    const segment = carry + (open ? raw.slice(0, open.index) : raw);
    carry = open ? open[0] : "";
    // ICU ends a sentence before its citation marks ("… Telemundo.[2][3] It …"): move them back.
    const marks = pending === "" && out.length > 0 ? /^(?:\[[^\]\s]{1,12}\])+/.exec(segment) : null;
    if (marks) {
      out[out.length - 1] += marks[0];
      pending = segment.slice(marks[0].length);
    } else pending += segment;
    if (!endsInAbbreviation(pending)) {
      const s = pending.trim();
      if (s !== "") out.push(s);
      pending = "";
    }
  }
  const rest = (pending + carry).trim();
  if (rest !== "") out.push(rest);
  return out;
}

function endsInAbbreviation(text: string): boolean {
  const m = /(?:^|[\s(])([\p{L}.]+)\.\s*$/u.exec(text);
  if (!m) return false;
  const word = m[1];
  if (/^\p{Lu}$/u.test(word)) return true; // an initial
  return ABBREVIATIONS.has(word.toLowerCase());
}
