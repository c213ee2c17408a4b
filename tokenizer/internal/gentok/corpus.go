package main

// corpus is the sample text the test vocabularies are trained on: English
// prose with contractions, accents, CJK, emoji, digits, code and whitespace.
const corpus = `The quick brown fox jumps over the lazy dog. The dog wasn't amused; it's been a long day,
and the fox'll be back tomorrow. We've seen this before, haven't we? They're always running around the
garden, and I'm tired of chasing them. She'd rather read a book, he said, than watch the animals play.

In the beginning there was the word, and the word was "hello". Hello, world! Hello again, world.
The world is full of words: the, of, and, to, in, is, was, that, for, on, with, as, by, at, from.
Tokenizers split text into tokens; tokens are numbers; numbers go into the model, and the model
predicts the next token. Training the model means adjusting its weights so the predictions improve.

Le café est très bon à Paris. Où est la bibliothèque? Ça va très bien, merci. Élève, façade, naïve,
résumé, déjà vu. Über den Wolken muss die Freiheit wohl grenzenlos sein. Straße, Mädchen, schön, Grüße.
El niño comió mañana en la ciudad de México. ¿Dónde está el baño? ¡Qué bonito día!

日本語のテキストも少し入れておきます。東京は日本の首都です。今日はいい天気ですね。
中文也可以：你好，世界！我们正在训练一个小模型。这个模型很小，但是它能学习。
한국어 문장도 있습니다. 안녕하세요, 세계!

Emoji are fun 😀😃😄 and rockets 🚀 go fast; hearts ❤️ and fire 🔥 too. 👍 Great job! 🎉🎉

Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 256 1024 2048 65536 3.14159 2.71828 1,000,000 2024-06-01 12:30.
Phone 555-1234, price $19.99, 50% off, 3/4 cup, x^2 + y^2 = z^2, a <= b && c >= d || !e.

func main() {
	for i := 0; i < 10; i++ {
		fmt.Println("hello", i)
	}
}

def train(model, data):
    for batch in data:
        loss = model(batch)
        loss.backward()
    return model

    Indented lines, with    runs of    spaces, and tabs	between	words.
Line one
Line two

Line four after a blank line.
the the the the the and and and to to of of in in is is it it
`
