/**
 * Answer candidates for cloze questions, found by pattern rather than a model: dates ("4 May
 * 1493", "March 2010", a year), numbers with their unit ("9 million", "35 %", "120 km") and named
 * entities (runs of capitalised words, "University of Texas", "Mateo Solar").
 *
 * @module
 */

/** A span of a sentence that can serve as an answer. */
export interface AnswerSpan {
  text: string;
  start: number;
  kind: "date" | "number" | "name";
}

const MONTH =
  "(?:January|February|March|April|May|June|July|August|September|October|November|December)";
const DATE = new RegExp(
  `\\b(?:\\d{1,2} ${MONTH},? \\d{4}|${MONTH} \\d{1,2},? \\d{4}|${MONTH} \\d{4}|` +
    `(?:1[0-9]|20)\\d{2}s?)\\b`,
  "g",
);
const UNIT = "(?:\\s?%|\\s(?:percent|per cent|million|billion|thousand|hundred|km|kilometres|" +
  "kilometers|miles|metres|meters|m|feet|ft|kg|tonnes|tons|people|inhabitants|years|days|" +
  "hours|minutes|seasons|episodes|games|goals|points|votes|seats|members|copies|species))";
/** Not part of a longer token: "3.4" in "3.4.78" or "12" in "A12" is no answer. */
const NUMBER = new RegExp(
  `(?<![\\p{L}\\d.,])(?:[$€£]\\s?)?(?:\\d{1,3}(?:,\\d{3})+|\\d+)(?:\\.\\d+)?` +
    `(?![\\d\\p{L}]|[.,]\\d)${UNIT}?`,
  "gu",
);
/** Capitalised words joined by the small words that occur inside names. */
const NAME =
  /\b\p{Lu}[\p{L}'’.-]*(?:\s+(?:(?:of|de|del|della|da|do|dos|du|la|le|van|von|der|den|the|al|bin|ibn)\s+)*\p{Lu}[\p{L}'’.-]*)*/gu;
/** Capitalised words that begin sentences without naming anything. */
const NOT_NAMES = new Set(
  "The A An In On At By For From With As It Its He She His Her They Their This That These Those There Here After Before During While When Where Which Who Whom Whose What Why How However Although Though Since Because If But And Or So Then Also Both Each Every Many Most Some Several Other Such One Two Three First Second Later Early Today Following According Despite Between Among Under Over Into Upon Within Without We I You Our My Your Mr Mrs Ms Dr"
    .split(" "),
);

/** Candidate answers in `sentence`, in order of position. */
export function answerSpans(sentence: string): AnswerSpan[] {
  const spans: AnswerSpan[] = [];
  const taken: [number, number][] = [];
  const overlaps = (s: number, e: number) => taken.some(([a, b]) => s < b && a < e);
  const add = (text: string, start: number, kind: AnswerSpan["kind"]) => {
    const trimmed = text.replace(/[.,;:'’-]+$/, "");
    if (trimmed === "" || overlaps(start, start + trimmed.length)) return;
    taken.push([start, start + trimmed.length]);
    spans.push({ text: trimmed, start, kind });
  };
  for (const m of sentence.matchAll(DATE)) add(m[0], m.index, "date");
  for (const m of sentence.matchAll(NUMBER)) {
    // A bare one-digit number ("2 of them") says little; keep it only with a unit.
    if (/^\d$/.test(m[0])) continue;
    add(m[0], m.index, "number");
  }
  for (const m of sentence.matchAll(NAME)) {
    let text = m[0];
    let start = m.index;
    const words = text.split(/\s+/);
    while (words.length > 0 && NOT_NAMES.has(words[0].replace(/[.'’]+$/, ""))) {
      const first = words.shift()!;
      text = text.slice(text.indexOf(first) + first.length).trimStart();
      start = m.index + m[0].length - text.length;
    }
    if (words.length === 0 || text.length < 2) continue;
    // A single capitalised word at the start of the sentence is usually not a name.
    if (start === 0 && words.length === 1) continue;
    add(text, start, "name");
  }
  return spans.sort((a, b) => a.start - b.start);
}
