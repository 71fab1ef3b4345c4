/**
 * Stage 1 (SCP) data: ml-clara `pretrain.jsonl` records (QA pairs about a document set,
 * paraphrases) plus a reconstruction example for every distinct document, as "documents → prompt
 * → target" items. When no file is given, the records are made in process the way
 * `docs:synthesize` makes them: its offline synthesizer over paragraphs of the wiki text, and its
 * `--from-qa` conversion of the QA training sets' supporting paragraphs.
 *
 * @module
 */
import { readMultiHopJson } from "../../datasets/multihop_qa.ts";
import { readTextCorpus } from "../../datasets/text_corpus.ts";
import type { TextTokenizer } from "../../datasets/tokenizer.ts";
import { convertMultiHop, paragraphDoc } from "../docs/from_qa.ts";
import { synthesizeOffline } from "../docs/offline_synth.ts";
import { pretrainRecords } from "../docs/stage_records.ts";
import { evenlySpaced } from "./lm_data.ts";
import type { PretrainRecord } from "./stage_records.ts";
import type { MemoryExample } from "./memory_batch.ts";
import { documentIds, promptIds, targetIds } from "./tokens.ts";

/** The prompt of paraphrase targets. */
export const PARAPHRASE_PROMPT = "paraphrase the document";
/** The prompt of reconstruction targets. */
export const RECONSTRUCT_PROMPT = "reconstruct the document";

/** What an SCP item trains. */
export type ScpKind = "qa" | "paraphrase" | "reconstruction";

/** One SCP item in text. */
export interface ScpItem {
  kind: ScpKind;
  docs: string[];
  prompt: string;
  target: string;
}

/** The items of `records`: each QA pair, each paraphrase, and one reconstruction per document. */
export function scpItems(records: readonly PretrainRecord[]): ScpItem[] {
  const items: ScpItem[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    if (r.data_type === "qa") {
      r.question.forEach((q, i) =>
        items.push({ kind: "qa", docs: r.docs, prompt: q, target: r.answers[i] })
      );
    } else {
      for (const a of r.answers) {
        items.push({ kind: "paraphrase", docs: r.docs, prompt: PARAPHRASE_PROMPT, target: a });
      }
    }
    for (const d of r.docs) {
      if (seen.has(d)) continue;
      seen.add(d);
      items.push({ kind: "reconstruction", docs: [d], prompt: RECONSTRUCT_PROMPT, target: d });
    }
  }
  return items;
}

/** Tokenizes an item: documents cut to `docTokens`, targets to `targetTokens`. */
export function scpExample(
  tokenizer: TextTokenizer,
  item: ScpItem,
  docTokens: number,
  targetTokens: number,
): MemoryExample {
  return {
    docs: item.docs.map((d) => documentIds(tokenizer, d, docTokens)),
    prompt: promptIds(tokenizer, item.prompt),
    target: targetIds(tokenizer, item.target, targetTokens),
  };
}

/** Fewest and most words of a wiki paragraph used as an SCP document. */
const PARAGRAPH_WORDS = [40, 160];

/**
 * Records made in process: the offline synthesizer over `wikiParagraphs` paragraphs of the text
 * files (spread evenly over them), and the supporting-paragraph QA records of the QA files.
 */
export async function synthesizedPretrainRecords(
  textFiles: readonly string[],
  qaFiles: readonly string[],
  wikiParagraphs: number,
): Promise<PretrainRecord[]> {
  const paragraphs: string[] = [];
  for (const path of textFiles) {
    for (const doc of await readTextCorpus(path)) {
      for (const p of doc.text.split(/\n\s*\n/)) {
        const text = p.replace(/\s+/g, " ").trim();
        const words = text.split(" ").length;
        if (text.startsWith("=") || words < PARAGRAPH_WORDS[0] || words > PARAGRAPH_WORDS[1]) {
          continue;
        }
        paragraphs.push(paragraphDoc(doc.title, [text]));
      }
    }
  }
  const records: PretrainRecord[] = [];
  for (const i of evenlySpaced(paragraphs.length, wikiParagraphs)) {
    records.push(...pretrainRecords(paragraphs[i], synthesizeOffline(`wiki-${i}`, paragraphs[i])));
  }
  for (const path of qaFiles) {
    records.push(...convertMultiHop(await readMultiHopJson(path)).pretrain);
  }
  return records;
}
