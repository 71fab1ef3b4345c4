/**
 * Language detection by script and stop words, no model needed: Han → zh (ja when kana occur),
 * Hangul → ko, Cyrillic → ru (uk by its own letters), Arabic → ar; Latin text is scored against
 * short stop-word lists for en, de, fr and es; anything else is "other".
 *
 * @module
 */

/** A detected language code (ISO 639-1) or "other". */
export type Language =
  | "en"
  | "zh"
  | "ja"
  | "ko"
  | "ru"
  | "uk"
  | "ar"
  | "de"
  | "fr"
  | "es"
  | "other";

/** How much text is looked at. */
const SAMPLE_CHARS = 4000;
/** Share of stop words among Latin words needed to name a language. */
const MIN_STOP_SHARE = 0.08;

const STOP_WORDS: Record<"en" | "de" | "fr" | "es", Set<string>> = {
  en: new Set(
    "the of and to in is was for that on as with by it at from his he are an be which this or have had were not but their they its has"
      .split(" "),
  ),
  de: new Set(
    "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat dass sie nach wird bei"
      .split(" "),
  ),
  fr: new Set(
    "le la les de des et en un une du est que qui dans pour pas sur au par il elle ne se sont avec ce cette aux son sa ses"
      .split(" "),
  ),
  es: new Set(
    "el la los las de del y en un una que es por con para se su al lo como más pero sus le ya fue este entre"
      .split(" "),
  ),
};

/** Detects the language of `text` from its first few thousand characters. */
export function detectLanguage(text: string): Language {
  const sample = text.slice(0, SAMPLE_CHARS);
  const count = (re: RegExp) => sample.match(re)?.length ?? 0;
  const han = count(/\p{Script=Han}/gu);
  const kana = count(/[\p{Script=Hiragana}\p{Script=Katakana}]/gu);
  const hangul = count(/\p{Script=Hangul}/gu);
  const cyrillic = count(/\p{Script=Cyrillic}/gu);
  const arabic = count(/\p{Script=Arabic}/gu);
  const latin = count(/\p{Script=Latin}/gu);
  const letters = han + kana + hangul + cyrillic + arabic + latin;
  if (letters === 0) return "other";
  const top = Math.max(han + kana, hangul, cyrillic, arabic, latin);
  if (top === han + kana) return kana > 0.1 * (han + kana) ? "ja" : "zh";
  if (top === hangul) return "ko";
  if (top === arabic) return "ar";
  if (top === cyrillic) return /[ієїґ]/iu.test(sample) ? "uk" : "ru";
  return latinLanguage(sample);
}

function latinLanguage(sample: string): Language {
  const words = sample.toLowerCase().match(/\p{L}+/gu) ?? [];
  if (words.length === 0) return "other";
  let best: Language = "other";
  let bestShare = MIN_STOP_SHARE;
  for (const [lang, stops] of Object.entries(STOP_WORDS)) {
    const share = words.filter((w) => stops.has(w)).length / words.length;
    if (share > bestShare) {
      best = lang as Language;
      bestShare = share;
    }
  }
  return best;
}
