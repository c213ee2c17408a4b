// Generates webtune's shipped corpora from small grammars, seeded, so anyone can
// reproduce them byte for byte:
//   node scripts/corpus/gen.mjs stories 1500000 > web/models/corpus/stories.txt
//   node scripts/corpus/gen.mjs pirate 40000 > web/models/corpus/pirate.txt
// "stories" is the base model's corpus: short plain children's stories.
// "pirate" is a clearly different style (pirate talk) for LoRA fine-tuning demos.
// Both are generated text written by this script: public domain (CC0).

function rng(seed) {
  // mulberry32: small, fast, deterministic across platforms.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const girls = ["Lily", "Mia", "Sara", "Anna", "Lucy", "Ella"];
const boys = ["Tom", "Ben", "Max", "Sam", "Leo", "Jack"];
const names = [...girls, ...boys];
const animals = ["cat", "dog", "bird", "frog", "bunny", "duck", "fox", "bear", "mouse", "fish"];
const things = ["ball", "kite", "box", "hat", "book", "cake", "boat", "tree", "flower", "car", "toy", "apple"];
const adjs = ["big", "small", "red", "blue", "happy", "shiny", "soft", "funny", "green", "little", "old", "new"];
const places = ["park", "garden", "house", "beach", "forest", "school", "farm", "lake", "hill", "shop"];
const feelings = ["happy", "sad", "scared", "excited", "tired", "proud", "angry", "surprised"];
const verbs = ["played with", "looked at", "found", "lost", "shared", "painted", "carried", "hugged"];

function story(r) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const hero = pick(names), friend = pick(names.filter((n) => n !== hero));
  const animal = pick(animals), thing = pick(things), adj = pick(adjs), place = pick(places);
  const s = [];
  s.push(`Once upon a time, there was a ${girls.includes(hero) ? "girl" : "boy"} named ${hero}.`);
  s.push(`${hero} liked to go to the ${place} with a ${adj} ${thing}.`);
  s.push(`One day, ${hero} saw a ${animal} near the ${pick(places)}.`);
  if (r() < 0.5) s.push(`The ${animal} was ${pick(feelings)} because it ${pick(verbs)} a ${pick(things)}.`);
  else s.push(`"Hello, little ${animal}!" said ${hero}. "Do you want to play?"`);
  s.push(`${hero} and ${friend} ${pick(verbs)} the ${thing} all day.`);
  if (r() < 0.4) s.push(`Then it started to rain, so they ran to the ${pick(places)}.`);
  if (r() < 0.5) s.push(`${friend} said, "I am ${pick(feelings)}. Can we ${pick(["play", "eat", "sing", "read"])} now?"`);
  s.push(`At the end of the day, ${hero} felt ${pick(feelings)} and went home.`);
  s.push(pick(["The end.", `${hero} smiled.`, "They were best friends.", `The ${animal} was happy too.`]));
  return s.join(" ");
}

const crew = ["Captain Redbeard", "One-Eyed Jack", "Salty Sue", "Mad Morgan", "Barnacle Bill", "Peg-Leg Pete"];
const loot = ["gold", "doubloons", "rum", "treasure", "pieces of eight", "the black pearl"];
const sea = ["the seven seas", "Skull Island", "the Spanish Main", "Davy Jones' locker", "the briny deep"];
function pirate(r) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const who = pick(crew);
  const lines = [
    `Arr, matey! ${who} be sailin' to ${pick(sea)} for ${pick(loot)}!`,
    `Shiver me timbers, ${pick(crew)}! Hoist the mainsail, ye scallywag!`,
    `Yo ho ho, the ${pick(adjs)} ${pick(animals)} be guardin' the ${pick(loot)}, savvy?`,
    `Avast ye! ${who} says we'll plunder ${pick(sea)} by dawn, arr!`,
    `Blow me down! That landlubber ${pick(names)} stole me ${pick(loot)}!`,
    `Walk the plank, ye bilge rat, or swab the deck till ${pick(sea)} runs dry!`,
  ];
  return pick(lines) + (r() < 0.5 ? " " + pick(lines) : "");
}

const [kind = "stories", bytesArg = "1000000", seedArg = "42"] = process.argv.slice(2);
const gen = { stories: story, pirate }[kind];
if (!gen) {
  console.error(`gen.mjs: unknown corpus ${JSON.stringify(kind)} (want stories or pirate)`);
  process.exit(1);
}
const r = rng(Number(seedArg));
let out = "", n = Number(bytesArg);
while (out.length < n) out += gen(r) + "\n";
process.stdout.write(out);
