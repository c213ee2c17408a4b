package main

import "math/rand"

// fixedTexts are hand-picked texts covering the pre-tokenizer and SPM edge cases.
var fixedTexts = []string{
	"Hello world",
	"Hello, world! How's it going? I'm fine; you're great, we've done it, they'll see, he'd go.",
	"DON'T WON'T I'LL SHE'S WE'VE THEY'RE HE'D",
	"  leading spaces",
	"trailing spaces   ",
	"multiple    spaces\tand\ttabs\t\t here",
	"line1\nline2\n\nline4\r\nwindows\r\n",
	"\n\n\n",
	" ",
	"a",
	"The quick brown fox jumps over the lazy dog.",
	"1234567890 12 345 6789 3.14159 1,000,000 x1y22z333",
	"٣٤٥ ١٢ Ⅻ ½ ²³ ①②",
	"Café naïve façade résumé Ångström über straße",
	"e\u0301 combining a\u0308 marks",
	"你好，世界！日本語のテキスト。한국어 텍스트",
	"I ❤️ Go 🚀🔥 👩‍👩‍👧 family 😀",
	"func main() { fmt.Println(\"hi\") } // comment `x` $y + z <= w ^ ~ | @#%&*",
	"<s> literal tokens </s> <unk> <|user|> and <|user|>text<|user|>",
	"naïve—dash – en-dash … ellipsis «quotes» “curly” ‘single’",
	"aaaaaaaaaaaaaaaaaaaaaaaaa",
	"the the the the and and to to",
	"a\u00a0b\u2003c\u3000d\u2028e\u0085f",
	"Hello , world . What ? Yes ! It 's I 'm we 're you 've ' quoted ' end 't 'd 'll",
	"\ufeffBOM and zero\u200bwidth and \u0001\u001f controls \ue000 private",
	"▁ literal lower one eighth block ▁▁",
	"    def train(model, data):\n        return model\n",
	"'s 's's ''s '' '",
	"x  \n  y \t\n z",
	"$19.99 50% 3/4 a<=b&&c>=d||!e",
	"𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 math",
	"tab\there,\ttab\tthere.",
	"<|begin_of_text|>Hi there<|end_of_text|> <s>x</s>",
}

// chatTexts are chat templates as the families render them, and special
// tokens in awkward places: adjacent, at the ends, split, nested, between
// spaces, of another family.
var chatTexts = []string{
	"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat's 2+2? Answer in JSON: {\"answer\": 4}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n{\"answer\": 4}<|im_end|>\n",
	"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi 😀 1234567<|im_end|>\n<|im_start|>assistant\n",
	"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are helpful.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nI'm   fine, 1234567 ok?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
	"<bos><start_of_turn>user\nYou are kind.\n\nHello, world! 日本語<end_of_turn>\n<start_of_turn>model\nHi  there<end_of_turn>\n",
	"<|im_end|><|im_start|><|im_end|>", " <|im_end|> ", "<|im_start", "<<|im_end|>>", "<|im_start|>\n\n<|im_end|>",
	"<start_of_turn> x <end_of_turn>", "<unused3><unused5999><mask>[@BOS@]", "<|reserved_special_token_5|>x<|python_tag|>",
	"<tool_call>{\"name\": \"f\"}</tool_call><tool_response>ok</tool_response>", "[PAD151935] [PAD5]",
	"  <table>  <tr><td>1</td></tr>\t\t<br>\n\n\n", "<bos><bos>hi<eos>", "<|endoftext|><|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
	"<|repo_name|>r<|file_sep|>f<reponame><filename>", "<start_of_image><end_of_image><|eom_id|><|end_of_text|>",
	"<|im_start|>user\n<|im_start|>assistant", "text<|eot_id|>", "<end_of_turn>",
}

// testTexts returns the fixed texts, the chat texts and seeded random
// mixtures of their characters.
func testTexts() []string {
	out := append([]string(nil), fixedTexts...)
	out = append(out, chatTexts...)
	out = append(out, corpus)
	pool := []string{
		"a", "b", "e", "t", "h", "The", " ", " ", "  ", "\n", "\t", "\r\n", "'", "'s", "'ll", "0", "7", "42",
		"é", "ü", "ß", "你", "好", "日本", "한", "😀", "🚀", "❤️", ".", ",", "!", "?", "-", "_", "(", ")",
		"$", "+", "<", "=", "`", "…", "—", "\u00a0", "\u0301", "½", "٣", "the", "world", "hello", "▁",
		"\u2003", "\u3000", "\r", "\u000b", "\u0085", "S", "'S", "'Re", "'LL", "123456", "ｆｕｌｌ", "𝟙", "\u200d", "Ⅻ",
		"<s>", "</s>", "<|user|>", "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "<|eot_id|>",
		"<think>", "  ", "\n\n", "<bos>", "@", "^", "|", "~", "{", "}", "[", "]", "\\", "\"", "#", "%", "&", "*", ":", ";", "/",
	}
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 200; i++ {
		n := 1 + rng.Intn(30)
		s := ""
		for j := 0; j < n; j++ {
			s += pool[rng.Intn(len(pool))]
		}
		out = append(out, s)
	}
	// Random code points from many categories (marks, other scripts' digits,
	// unusual spaces, symbols, unassigned and private-use code points).
	ranges := [][2]rune{{0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x370, 0x3FF}, {0x400, 0x4FF},
		{0x5D0, 0x5EA}, {0x600, 0x6FF}, {0x900, 0x97F}, {0xE00, 0xE7F}, {0x1680, 0x1680}, {0x2000, 0x206F},
		{0x20A0, 0x20CF}, {0x2100, 0x218F}, {0x2190, 0x23FF}, {0x2460, 0x24FF}, {0x3000, 0x303F}, {0x3040, 0x30FF},
		{0x4E00, 0x4E80}, {0xAC00, 0xAC80}, {0xFF00, 0xFFEF}, {0x1F300, 0x1F6FF}, {0x1D400, 0x1D7FF}, {0xE000, 0xE010},
		{0x0378, 0x0379}, {0xFFF0, 0xFFFD}, {0x10FFF0, 0x10FFFD}, {0x2FFF0, 0x2FFFD}}
	for i := 0; i < 150; i++ {
		n := 1 + rng.Intn(25)
		var rs []rune
		for j := 0; j < n; j++ {
			r := ranges[rng.Intn(len(ranges))]
			rs = append(rs, r[0]+rune(rng.Intn(int(r[1]-r[0]+1))))
		}
		out = append(out, string(rs))
	}
	return out
}
