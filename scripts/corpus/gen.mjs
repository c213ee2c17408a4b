// Generates webtune's shipped corpora from small grammars, seeded, so anyone can
// reproduce them byte for byte (plain ASCII, one story or one line per text line):
//   node scripts/corpus/gen.mjs stories 2000000 42 > web/models/corpus/stories.txt
//   node scripts/corpus/gen.mjs pirate 120000 7 > web/models/corpus/pirate.txt
//   node scripts/corpus/gen.mjs pirate-stories 120000 9 > web/models/corpus/pirate-stories.txt
// "stories" is the base model's corpus: short plain children's stories built
// from a handful of plots (a lost thing, a new friend, a rainy day, baking, a
// race, helping an animal, a bad dream, a trip), with pronouns that agree with
// the hero, dialogue and a small moral, so a tiny model has structure to learn.
// "pirate" is a clearly different style for the LoRA demo: the same kind of
// stories told in pirate talk ("Arr", "matey", "me hearty", "ye", "be"), with
// pirate plots; its words are also fed to the BPE vocabulary of the base model.
// "pirate-stories" is the LoRA demo's training set: the base corpus's own
// stories retold in pirate talk, so a LoRA has only the style to learn.
// Both are generated text written by this script: public domain (CC0 1.0).

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

const girls = ["Lily", "Mia", "Sara", "Anna", "Lucy", "Ella", "Zoe", "Emma", "Rosie", "Kate"];
const boys = ["Tom", "Ben", "Max", "Sam", "Leo", "Jack", "Tim", "Finn", "Joe", "Noah"];
const animals = ["cat", "dog", "bird", "frog", "bunny", "duck", "fox", "bear", "mouse", "owl", "puppy", "kitten"];
const things = ["ball", "kite", "hat", "book", "boat", "doll", "car", "drum", "teddy bear", "red shoe", "toy train", "blue cup"];
const colors = ["red", "blue", "green", "yellow", "pink", "purple", "orange", "brown"];
const sizes = ["big", "small", "little", "tiny"];
const places = ["park", "garden", "beach", "forest", "farm", "lake", "hill", "zoo", "river"];
const foods = ["cake", "cookies", "soup", "bread", "pie", "apples", "pancakes", "ice cream"];
const games = ["tag", "hide and seek", "catch", "ball"];
const good = ["happy", "glad", "proud", "excited"];
const bad = ["sad", "scared", "worried", "upset"];
const adults = ["Mom", "Dad", "Grandma", "Grandpa"];

// Person builds a character with agreeing pronouns.
function person(r, exclude) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  for (;;) {
    const girl = r() < 0.5;
    const name = pick(girl ? girls : boys);
    if (name === exclude) continue;
    return girl
      ? { name, kind: "girl", he: "she", He: "She", him: "her", his: "her", His: "Her" }
      : { name, kind: "boy", he: "he", He: "He", him: "him", his: "his", His: "His" };
  }
}

const an = (word) => (/^[aeiou]/.test(word) ? "an" : "a");

function story(r) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const chance = (p) => r() < p;
  const h = person(r), f = person(r, h.name);
  const animal = pick(animals), thing = pick(things), place = pick(places), adult = pick(adults);
  const color = pick(colors), size = pick(sizes), food = pick(foods);
  const s = [];
  s.push(pick([
    `Once upon a time, there was a ${pick(["little ", "kind ", "happy ", ""])}${h.kind} named ${h.name}.`,
    `Once upon a time, in a small town, there lived a ${h.kind} named ${h.name}.`,
    `One day, a ${h.kind} named ${h.name} went to the ${place}.`,
  ]));
  if (chance(0.6)) s.push(`${h.He} liked to ${pick(["play " + pick(games), "read books", "sing songs", "draw pictures", "run fast", "look at the sky"])} with ${h.his} friend ${f.name}.`);
  const plot = Math.floor(r() * 9);
  switch (plot) {
    case 0: // a lost thing
      s.push(`${h.name} had ${an(color)} ${color} ${thing}. ${h.He} loved it very much.`);
      s.push(`One day, ${h.name} could not find the ${thing}. ${h.He} looked under the bed and behind the door, but it was not there.`);
      s.push(`${h.name} was ${pick(bad)}. ${h.He} went to ${f.name} and said, "I lost my ${thing}. Can you help me?"`);
      s.push(`"Yes, I will help you," said ${f.name}. They looked in the ${place} together.`);
      s.push(`At last, ${f.name} saw the ${thing} ${pick(["under a tree", "next to a big rock", "in the grass", "by the water"])}.`);
      s.push(`${h.name} was so ${pick(good)}. "Thank you, ${f.name}!" ${h.he} said, and gave ${f.him} a big hug.`);
      s.push(pick(["From that day on, they were best friends.", `${h.name} learned that friends help each other.`, "The end."]));
      break;
    case 1: // a new friend
      s.push(`At the ${place}, ${h.name} saw a ${size} ${animal}. The ${animal} was all alone.`);
      s.push(`"Hello, little ${animal}," said ${h.name}. "Why are you ${pick(bad)}?"`);
      s.push(`"I have no friends," said the ${animal}. "Nobody wants to play with me."`);
      s.push(`${h.name} smiled. "I will be your friend. Do you want to play ${pick(games)}?"`);
      s.push(`The ${animal} was very ${pick(good)}. They played all day until the sun went down.`);
      s.push(pick([`${h.name} and the ${animal} became best friends.`, `Every day after that, the ${animal} waited for ${h.name} at the ${place}.`, "The end."]));
      break;
    case 2: // a rainy day
      s.push(`${h.name} and ${f.name} wanted to play ${pick(games)} at the ${place}.`);
      s.push(`But then the sky got dark, and it started to rain. ${h.name} was ${pick(bad)}.`);
      s.push(`"What can we do now?" asked ${f.name}. ${h.name} thought and thought.`);
      s.push(`"Let's ${pick(["build a fort with pillows", "make a boat out of paper", "draw a big picture", "play a game inside"])}!" said ${h.name}.`);
      s.push(`They had so much fun. When the rain stopped, they saw a ${pick(["big rainbow", "puddle to jump in", "little frog"])} outside.`);
      s.push(pick([`${h.name} said, "Rainy days can be fun too!"`, "They laughed and jumped in the puddles.", "The end."]));
      break;
    case 3: // baking
      s.push(`One morning, ${h.name} wanted to make ${food} with ${adult}.`);
      s.push(`"We need ${pick(["milk", "eggs", "sugar", "flour"])} and ${pick(["butter", "water", "salt", "honey"])}," said ${adult}.`);
      s.push(`${h.name} mixed everything in a ${size} bowl. ${h.He} was very careful.`);
      if (chance(0.5)) s.push(`Oops! ${h.name} dropped the spoon. ${adult} laughed and said, "That is okay. We can clean it up."`);
      s.push(`Soon the ${food} ${food.endsWith("s") ? "were" : "was"} ready. It smelled so good!`);
      s.push(`${h.name} shared the ${food} with ${f.name}. "This is yummy!" said ${f.name}.`);
      s.push(pick([`${h.name} felt ${pick(good)}. Sharing made ${h.him} happy.`, `${h.name} learned that sharing is fun.`, "The end."]));
      break;
    case 4: { // a race
      const goal = pick(["big tree", "top of the hill", "old fence", "red house"]);
      s.push(`${h.name} and ${f.name} had a race to the ${goal}.`);
      s.push(`"Ready, set, go!" said ${f.name}. They ran as fast as they could.`);
      s.push(`${h.name} was in front, but then ${h.he} fell down and hurt ${h.his} knee.`);
      s.push(`${f.name} stopped running. "${h.name}, are you okay?" ${f.he} asked, and helped ${h.him} get up.`);
      s.push(`They walked to the ${goal} together, hand in hand.`);
      s.push(pick([`${h.name} said, "Thank you. You are a good friend."`, "It did not matter who won. Being friends was better.", "The end."]));
      break;
    }
    case 5: // helping an animal
      s.push(`At the ${place}, ${h.name} heard a ${pick(["small", "sad", "soft"])} sound. It was a ${animal}.`);
      s.push(`The ${animal} was stuck ${pick(["in a tree", "in a hole", "under a log", "in a box"])} and could not get out.`);
      s.push(`"Don't be scared," said ${h.name}. "I will help you."`);
      s.push(`${h.name} called ${adult}. Together they helped the ${animal} get out.`);
      s.push(`The ${animal} was free! It ${pick(["jumped", "danced", "ran", "flew"])} around and looked very ${pick(good)}.`);
      s.push(pick([`${h.name} felt proud. ${h.He} had helped a friend.`, `${adult} said, "You were very brave, ${h.name}."`, "The end."]));
      break;
    case 6: // a bad dream
      s.push(`One night, ${h.name} had a bad dream about a ${pick(["big monster", "dark forest", "loud storm", "scary dragon"])}.`);
      s.push(`${h.name} woke up and was very ${pick(bad)}. ${h.He} ran to ${adult}.`);
      s.push(`${adult} gave ${h.name} a hug and said, "It was only a dream. You are safe."`);
      s.push(`${adult} read ${h.him} a story about a ${size} ${animal} who ${pick(["could fly", "loved to sing", "found a star", "lived on the moon"])}.`);
      s.push(`Soon ${h.name} was not ${pick(bad)} anymore. ${h.He} closed ${h.his} eyes and fell asleep.`);
      s.push(pick([`${h.name} had a happy dream about the ${animal}.`, "In the morning, the sun was shining.", "The end."]));
      break;
    case 7: // playing pirates
      s.push(`${h.name} and ${f.name} wanted to play pirates. They made a ship out of a big box.`);
      s.push(`${f.name} drew a treasure map. "The gold is under the ${pick(["big tree", "old fence", "red slide", "sand box"])}," ${f.he} said.`);
      s.push(`${h.name} put on ${an(color)} ${color} hat, and ${adult} gave them a toy parrot.`);
      s.push(`They sailed across the ${pick(["garden", "yard", "room"])} and looked for the treasure.`);
      s.push(`At last they found a small box. Inside, there were ${pick(["shiny stones", "cookies", "gold coins made of paper", "toy cars"])}!`);
      s.push(pick([`"We are the best pirates!" said ${h.name}.`, `${h.name} and ${f.name} shared the treasure.`, "The end."]));
      break;
    default: // a trip
      s.push(`One sunny day, ${h.name} went to the ${place} with ${adult} and ${f.name}.`);
      s.push(`They brought ${an(color)} ${color} ${thing} and some ${food}.`);
      s.push(`At the ${place}, they saw a ${size} ${animal} and ${pick(["many flowers", "a tall tree", "a blue boat", "a big hill"])}.`);
      s.push(`"Look!" said ${f.name}. "The ${animal} wants to play with the ${thing}!"`);
      s.push(`${h.name} threw the ${thing}, and the ${animal} ran after it. Everyone laughed.`);
      s.push(`When it was time to go home, ${h.name} said, "This was the best day ever!"`);
      break;
  }
  return s.join(" ");
}

const crew = ["Captain Redbeard", "One-Eyed Jack", "Salty Sue", "Mad Morgan", "Barnacle Bill", "Peg-Leg Pete", "Captain Flint", "Bonny Anne"];
const loot = ["gold", "doubloons", "treasure", "pieces of eight", "silver", "jewels"];
const sea = ["the seven seas", "Skull Island", "the Spanish Main", "the briny deep", "Parrot Cove", "the foggy bay"];
const ships = ["the Black Gull", "the Salty Dog", "the Jolly Roger", "the Sea Serpent"];
const beasts = ["parrot", "crab", "shark", "seagull", "monkey", "whale", "sea turtle", "octopus"];

// pirate tells short stories in pirate talk: the same shape as "stories"
// (a hero, a friend, a problem, a happy end) so that a LoRA learns the
// style, not a new world.
function pirate(r) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const who = pick(crew), mate = pick(crew.filter((c) => c !== who));
  const beast = pick(beasts), ship = pick(ships), l = pick(loot), place = pick(sea);
  const s = [];
  s.push(pick([
    `Arr, once upon a time there be a pirate named ${who}, the terror of ${place}.`,
    `Ahoy, me hearties! Once upon a time, ${who} sailed ${ship} to ${place}.`,
    `Yo ho ho! Once upon a time, ${who} and ${mate} set sail for ${place}.`,
  ]));
  switch (Math.floor(r() * 4)) {
    case 0:
      s.push(`${who} had a map to the buried ${l}. "X marks the spot, matey!" said ${who}.`);
      s.push(`They dug and dug in the sand. "Shiver me timbers, I be tired!" said ${mate}.`);
      s.push(`At last they found a big chest full of ${l}. "Arr, we be rich!" cried ${who}.`);
      break;
    case 1:
      s.push(`A ${beast} came aboard ${ship}. "Ahoy, little ${beast}! Be ye lost?" asked ${who}.`);
      s.push(`"Aye, I lost me way in the storm," said the ${beast}.`);
      s.push(`"Fear not, matey. Ye can sail with us," said ${who}. The ${beast} joined the crew.`);
      break;
    case 2:
      s.push(`A great storm hit ${ship}. "Batten down the hatches, ye scallywags!" roared ${who}.`);
      s.push(`The waves be big, and ${mate} held the wheel. "Hold fast, me hearties!"`);
      s.push(`When the sun came out, the crew cheered. "Yo ho ho! We be safe!"`);
      break;
    default:
      s.push(`${mate} stole the last of the ${l}. "Avast! Ye bilge rat!" shouted ${who}.`);
      s.push(`"Arr, I be sorry, Captain," said ${mate}. "I only wanted some grub."`);
      s.push(`${who} laughed. "Then let us share it, matey. Pirates be friends on this ship!"`);
  }
  s.push(pick([`And they sailed the seven seas forever. Arr!`, `Yo ho ho, and a bottle of lemonade! The end, matey.`, `${who} smiled and said, "That be a fine day for a pirate." Arr!`]));
  return s.join(" ");
}

// pirateStory tells a "stories" story in pirate talk: the same plots and
// characters, the style changed (be, ye, me, matey, Ahoy, Arr), which is
// what a LoRA demo should move the base model toward.
function pirateStory(r) {
  const rules = [
    [/^Once upon a time/, "Arr, once upon a time"],
    [/^One day/, "Ahoy! One day"],
    [/\b(girl|boy)\b/g, "pirate $1"],
    [/\bfriends\b/g, "shipmates"],
    [/\bfriend\b/g, "matey"],
    [/\b(was|were|is|are|am)\b/g, "be"],
    [/\bmy\b/g, "me"],
    [/\bMy\b/g, "Me"],
    [/\byou\b/g, "ye"],
    [/\bYou\b/g, "Ye"],
    [/\byour\b/g, "yer"],
    [/\bHello\b/g, "Ahoy"],
    [/\bYes\b/g, "Aye"],
    [/\bvery\b/g, "mighty"],
    [/\bthe end\b/gi, "the end, me hearties"],
    [/!"/g, ', arr!"'],
  ];
  let t = story(r);
  for (const [re, to] of rules) t = t.replace(re, to);
  if (!/Arr!$/.test(t)) t += r() < 0.5 ? " Yo ho ho!" : " Arr!";
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const [kind = "stories", bytesArg = "1000000", seedArg = "42"] = process.argv.slice(2);
const gen = { stories: story, pirate, "pirate-stories": pirateStory }[kind];
if (!gen) {
  console.error(`gen.mjs: unknown corpus ${JSON.stringify(kind)} (want stories, pirate or pirate-stories)`);
  process.exit(1);
}
const r = rng(Number(seedArg));
const lines = [];
let n = Number(bytesArg), size = 0;
while (size < n) {
  const line = gen(r);
  lines.push(line);
  size += line.length + 1;
}
process.stdout.write(lines.join("\n") + "\n");
