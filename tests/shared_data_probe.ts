/**
 * Run by tests/shared_data_test.ts as its own `deno test` process: one data test whose data is
 * absent, to see what CI and non-CI runs do with it.
 */
import { sharedDataTest } from "./shared_data.ts";

sharedDataTest("a test whose data is absent", ["no/such/file.json"], () => {});
