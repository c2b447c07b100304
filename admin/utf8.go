package admin

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// checkUTF8 refuses a JSON body holding invalid UTF-8, naming the field
// whose string (or key) holds it. encoding/json would silently store such
// bytes as U+FFFD, while the WebSocket refuses them (4000): the REST API
// answers 10002 instead, so both edges keep the same rule.
func checkUTF8(body []byte) error {
	if utf8.Valid(body) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// stack holds, per open container, the member name or array index the
	// current value is at; wantKey says an object waits for a member name.
	type level struct {
		obj     bool
		key     string
		index   int
		wantKey bool
	}
	var stack []level
	name := func() string {
		var b []byte
		for i, l := range stack {
			if i > 0 {
				b = append(b, '.')
			}
			if l.obj {
				b = append(b, l.key...)
			} else {
				b = strconv.AppendInt(b, int64(l.index), 10)
			}
		}
		if len(b) == 0 {
			return "body"
		}
		return string(b)
	}
	// valueDone advances the enclosing container past one value.
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].obj {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].index++
			}
		}
	}
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			// Malformed JSON: Bind reports it; the bad bytes sit outside
			// any string the decoder reached.
			return BadParam("body", "invalid UTF-8")
		}
		raw := body[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{obj: true, wantKey: true})
			case '[':
				stack = append(stack, level{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			n := len(stack)
			if n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				if !utf8.Valid(raw) {
					stack = stack[:n-1]
					return BadParam(name(), "a member name is not valid UTF-8")
				}
				stack[n-1].key, stack[n-1].wantKey = t, false
				continue
			}
			if !utf8.Valid(raw) {
				return BadParam(name(), "must be valid UTF-8")
			}
			valueDone()
		default:
			valueDone()
		}
		if len(stack) == 0 {
			return BadParam("body", "invalid UTF-8")
		}
	}
}
