/**
 * The data-directory files the CLaRa stages read by default (paths relative to the data
 * directory; dev files never join training).
 *
 * @module
 */

/** The Wikipedia sample: the base LM's text and the source of SCP's synthesized records. */
export const DEFAULT_WIKI_FILE = "text/wikipedia_pages_2019_sample.txt";

/** Text files of the data directory the base LM reads by default. */
export const DEFAULT_TEXT_FILES: string[] = [DEFAULT_WIKI_FILE, "text/wikitext2_raw_test.txt"];

/** QA training files: paragraphs for the base LM, records for SCP and instruction tuning. */
export const DEFAULT_QA_FILES: string[] = [
  "hotpotqa/train.json",
  "hotpotqa/train_more.json",
  "2wiki/train_sample.json",
  "musique/train_sample.json",
];
