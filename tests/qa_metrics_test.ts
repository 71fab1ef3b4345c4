import { assertEquals, assertThrows } from "./assert.ts";
import { assertClose } from "./helpers.ts";
import { metrics } from "../mod.ts";

const { commonestAnswer, exactMatch, normalizeAnswer, qaScores, recallAtK, tokenF1 } = metrics;

Deno.test("normalizeAnswer lower-cases, drops punctuation and whole-word articles, collapses spaces", () => {
  assertEquals(normalizeAnswer("  The Quick,  brown-fox!\n"), "quick brownfox");
  assertEquals(normalizeAnswer("An apple a day"), "apple day");
  assertEquals(normalizeAnswer("Theater of Anne, Inc."), "theater of anne inc");
  assertEquals(normalizeAnswer('"a" (the) [an]'), "");
});

Deno.test("exactMatch compares normal forms and takes the best gold answer", () => {
  assertEquals(exactMatch("the Eiffel Tower.", "Eiffel tower"), 1);
  assertEquals(exactMatch("Tower", ["Eiffel Tower", "tower"]), 1);
  assertEquals(exactMatch("Eiffel", ["Eiffel Tower", "tower"]), 0);
  assertThrows(() => exactMatch("x", []), "no gold answer");
});

Deno.test("tokenF1 counts overlap with multiplicity, best over gold answers", () => {
  // [cat, sat, on, mat] against [cat, on, mat]: 3 shared, precision 3/4, recall 1.
  assertClose([tokenF1("the cat sat on the mat", "a cat on a mat")], [6 / 7], 0, 1e-12, "f1");
  // [x, x, y] against [x, y, y]: one x and one y shared, precision = recall = 2/3.
  assertClose([tokenF1("x x y", "x y y")], [2 / 3], 0, 1e-12, "multiplicity");
  // Against "paris": precision 1/2, recall 1 → 2/3; against "london": 0.
  assertClose([tokenF1("Paris, France", ["London", "paris"])], [2 / 3], 0, 1e-12, "max");
  assertEquals(tokenF1("Berlin", "Paris"), 0);
  assertEquals(tokenF1("The", "a"), 1, "two answers that normalise to nothing agree");
  assertEquals(tokenF1("", "Paris"), 0);
});

Deno.test("qaScores averages exact match and F1 over questions", () => {
  const s = qaScores(["Paris", "the cat sat on the mat", "no"], [
    ["paris", "Paris, France"],
    "a cat on a mat",
    "yes",
  ]);
  assertEquals(s.n, 3);
  assertClose([s.em, s.f1], [1 / 3, (1 + 6 / 7 + 0) / 3], 0, 1e-12, "means");
  assertThrows(() => qaScores(["a"], []), "1 predictions for 0 questions");
});

Deno.test("recallAtK is the share of gold documents in the top k", () => {
  const ranked = ["d3", "d1", "d7", "d2", "d1"];
  assertEquals([1, 2, 3, 4, 10].map((k) => recallAtK(ranked, ["d1", "d2"], k)), [
    0,
    0.5,
    0.5,
    1,
    1,
  ]);
  assertEquals(recallAtK([4, 4, 4], [4, 5], 3), 0.5, "a repeated id counts once");
  assertThrows(() => recallAtK(ranked, [], 2), "no gold documents");
  assertThrows(() => recallAtK(ranked, ["d1"], 0), "k must be an integer");
});

Deno.test("commonestAnswer counts normal forms and breaks ties by first appearance", () => {
  assertEquals(commonestAnswer(["No", "1990", "no.", "The 1990", "NO"]), {
    answer: "no",
    share: 3 / 5,
  });
  assertEquals(commonestAnswer(["paris", "rome", "Rome", "Paris"]), {
    answer: "paris",
    share: 0.5,
  });
  assertThrows(() => commonestAnswer([]), "no predictions");
});
