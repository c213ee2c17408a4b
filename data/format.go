// Package data reads training files — plain text, JSON Lines of texts,
// conversations, prompt–completion pairs and Alpaca records — and turns
// them into what package train consumes: a token stream (text) or one
// example per record with the tokens the loss trains (TRL's SFT
// conventions: only assistant turns, or only the completion).
package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/webtune/webtune/chat"
)

// ErrData reports a training file that cannot be used; the message names
// the line and what is wrong.
var ErrData = errors.New("data")

// Formats of a training file.
const (
	FormatAuto             = "auto"              // detected from the file
	FormatText             = "text"              // plain text, or JSON Lines of {"text"}
	FormatMessages         = "messages"          // {"messages": [{"role", "content"}, …]}
	FormatPromptCompletion = "prompt-completion" // {"prompt", "completion"}: strings, or message lists
	FormatAlpaca           = "alpaca"            // {"instruction", "input", "output"}
)

// Formats lists the formats a user may name.
var Formats = []string{FormatAuto, FormatText, FormatMessages, FormatPromptCompletion, FormatAlpaca}

// Limits of what a file may hold.
const (
	MaxLineBytes = 16 << 20 // MaxLineBytes is the longest JSON line read.
)

// Record is one example of a file, before templating.
type Record struct {
	Line int // Line is the 1-based line of a JSON Lines record (0 for plain text).
	// Text is a text record's text.
	Text string
	// Messages is a conversation; for a prompt–completion record, the
	// prompt's messages followed by the completion's.
	Messages []chat.Message
	// Prompt and Completion are a prompt–completion record of strings.
	Prompt, Completion string
	// Conversational is true when Messages holds the record.
	Conversational bool
}

// File is a parsed training file.
type File struct {
	Format  string   // Format is the file's format (never FormatAuto).
	Records []Record // Records are the examples in file order.
}

// IsJSONL reports whether name or the content looks like JSON Lines: a
// .jsonl name, or a first non-blank character '{'.
func IsJSONL(name string, content []byte) bool {
	if strings.HasSuffix(strings.ToLower(name), ".jsonl") {
		return true
	}
	t := bytes.TrimLeft(content, " \t\r\n\ufeff")
	return len(t) > 0 && t[0] == '{' && !strings.HasSuffix(strings.ToLower(name), ".txt")
}

// Parse reads a training file named name (the name only chooses between
// plain text and JSON Lines) in format (FormatAuto detects it per record and
// refuses a file that mixes formats, naming the first line that differs).
func Parse(name string, content []byte, format string) (*File, error) {
	if format == "" {
		format = FormatAuto
	}
	if !validFormat(format) {
		return nil, fmt.Errorf("%w: format %q (want one of %s)", ErrData, format, strings.Join(Formats, ", "))
	}
	if err := checkText(content); err != nil {
		return nil, err
	}
	if !IsJSONL(name, content) {
		if format != FormatAuto && format != FormatText {
			return nil, fmt.Errorf("%w: %s is plain text, not JSON Lines of %s records", ErrData, name, format)
		}
		return &File{Format: FormatText, Records: []Record{{Text: string(content)}}}, nil
	}
	return parseJSONL(content, format)
}

// checkText refuses binary data: invalid UTF-8 or NUL bytes.
func checkText(b []byte) error {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return fmt.Errorf("%w: byte %d is NUL: this is a binary file, not text", ErrData, i)
	}
	if !utf8.Valid(b) {
		n := 0
		for len(b) > 0 {
			r, size := utf8.DecodeRune(b)
			if r == utf8.RuneError && size == 1 {
				break
			}
			n += size
			b = b[size:]
		}
		return fmt.Errorf("%w: byte %d is not UTF-8: this is a binary file or another encoding", ErrData, n)
	}
	return nil
}

func validFormat(f string) bool {
	for _, g := range Formats {
		if f == g {
			return true
		}
	}
	return false
}

// jsonRecord is the union of the keys of every JSON Lines format.
type jsonRecord struct {
	Text        *string         `json:"text"`
	Messages    json.RawMessage `json:"messages"`
	Prompt      json.RawMessage `json:"prompt"`
	Completion  json.RawMessage `json:"completion"`
	Instruction *string         `json:"instruction"`
	Input       *string         `json:"input"`
	Output      *string         `json:"output"`
}

func parseJSONL(content []byte, format string) (*File, error) {
	f := &File{Format: format}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var j jsonRecord
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("%w: line %d: not a JSON object: %v", ErrData, line, err)
		}
		got := j.format()
		if got == "" {
			return nil, fmt.Errorf("%w: line %d: no \"messages\", \"prompt\"/\"completion\", \"instruction\"/\"output\" or \"text\" field", ErrData, line)
		}
		switch {
		case f.Format == FormatAuto:
			f.Format = got
		case got != f.Format:
			return nil, fmt.Errorf("%w: line %d is a %s record, but the file's records before it are %s (one format per file)", ErrData, line, got, f.Format)
		}
		r, err := j.record(got)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrData, line, err)
		}
		r.Line = line
		f.Records = append(f.Records, r)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d is longer than %d MiB", ErrData, line+1, MaxLineBytes>>20)
		}
		return nil, fmt.Errorf("%w: %v", ErrData, err)
	}
	if f.Format == FormatAuto {
		f.Format = FormatText
	}
	return f, nil
}

// format returns the format a record's keys say, or "".
func (j *jsonRecord) format() string {
	switch {
	case j.Messages != nil:
		return FormatMessages
	case j.Prompt != nil || j.Completion != nil:
		return FormatPromptCompletion
	case j.Instruction != nil || j.Output != nil:
		return FormatAlpaca
	case j.Text != nil:
		return FormatText
	}
	return ""
}

func (j *jsonRecord) record(format string) (Record, error) {
	switch format {
	case FormatText:
		if j.Text == nil {
			return Record{}, errors.New(`no string "text" field`)
		}
		return Record{Text: *j.Text}, nil
	case FormatMessages:
		msgs, err := messages("messages", j.Messages)
		if err != nil {
			return Record{}, err
		}
		if !hasAssistant(msgs) {
			return Record{}, errors.New(`"messages" has no assistant message: nothing to learn`)
		}
		return Record{Messages: msgs, Conversational: true}, nil
	case FormatPromptCompletion:
		return promptCompletion(j.Prompt, j.Completion)
	case FormatAlpaca:
		if j.Instruction == nil || j.Output == nil {
			return Record{}, errors.New(`an Alpaca record needs string "instruction" and "output" fields`)
		}
		user := *j.Instruction
		if j.Input != nil && strings.TrimSpace(*j.Input) != "" {
			user += "\n\n" + *j.Input
		}
		return Record{Messages: []chat.Message{{Role: chat.RoleUser, Content: user}, {Role: chat.RoleAssistant, Content: *j.Output}}, Conversational: true}, nil
	}
	return Record{}, fmt.Errorf("format %q", format)
}

func promptCompletion(p, c json.RawMessage) (Record, error) {
	if p == nil || c == nil {
		return Record{}, errors.New(`a prompt–completion record needs both "prompt" and "completion"`)
	}
	var ps, cs string
	if json.Unmarshal(p, &ps) == nil && json.Unmarshal(c, &cs) == nil {
		return Record{Prompt: ps, Completion: cs}, nil
	}
	pm, err := messages("prompt", p)
	if err != nil {
		return Record{}, fmt.Errorf("%v (prompt and completion must both be strings or both message lists)", err)
	}
	cm, err := messages("completion", c)
	if err != nil {
		return Record{}, fmt.Errorf("%v (prompt and completion must both be strings or both message lists)", err)
	}
	if !hasAssistant(cm) {
		return Record{}, errors.New(`"completion" has no assistant message`)
	}
	for _, m := range cm {
		if m.Role != chat.RoleAssistant {
			return Record{}, fmt.Errorf(`"completion" holds a %q message; only assistant messages are completions`, m.Role)
		}
	}
	return Record{Messages: append(pm, cm...), Conversational: true}, nil
}

// messages parses a list of {"role", "content"} objects.
func messages(field string, raw json.RawMessage) ([]chat.Message, error) {
	var list []struct {
		Role    *string          `json:"role"`
		Content *json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%q is not a list of messages", field)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%q is empty", field)
	}
	out := make([]chat.Message, len(list))
	for i, m := range list {
		if m.Role == nil {
			return nil, fmt.Errorf("%s[%d] has no \"role\"", field, i)
		}
		switch *m.Role {
		case chat.RoleSystem, chat.RoleUser, chat.RoleAssistant:
		default:
			return nil, fmt.Errorf("%s[%d] has role %q (want system, user or assistant)", field, i, truncate(*m.Role))
		}
		var content string
		if m.Content == nil || json.Unmarshal(*m.Content, &content) != nil {
			return nil, fmt.Errorf("%s[%d] has no string \"content\"", field, i)
		}
		out[i] = chat.Message{Role: *m.Role, Content: content}
	}
	return out, nil
}

func hasAssistant(msgs []chat.Message) bool {
	for _, m := range msgs {
		if m.Role == chat.RoleAssistant {
			return true
		}
	}
	return false
}

// truncate shortens a value echoed in an error message.
func truncate(s string) string {
	if len(s) <= 60 {
		return s
	}
	return s[:60] + "…"
}
