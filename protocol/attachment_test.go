package protocol

import (
	"strings"
	"testing"
)

func TestSendAttachment(t *testing.T) {
	lim := DefaultLimits()
	ok := `{"t":"send","rid":1,"cmid":"a","to_user":2,"type":"file","attachment":"{\"url\":\"http://h/file/download/chat?file_sign=c%2Fx\",\"dName\":\"a.pdf\",\"fLen\":12}"}`
	cases := []struct {
		name, frame string
		code        Code
	}{
		{"file without content", ok, 0},
		{"image with dimensions", `{"t":"send","cmid":"a","to_user":2,"type":"image","attachment":"{\"url\":\"u\",\"width\":828.0,\"height\":828.0}"}`, 0},
		{"unknown members pass", `{"t":"send","cmid":"a","to_user":2,"type":"audio","attachment":"{\"url\":\"u\",\"duration\":1,\"x\":[1]}"}`, 0},
		{"text still needs content", `{"t":"send","cmid":"a","to_user":2,"type":"text","attachment":"{\"url\":\"u\"}"}`, CodeMissingField},
		{"not JSON", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":"http://x"}`, CodeBadValue},
		{"array", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":"[1]"}`, CodeBadValue},
		{"null", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":"null"}`, CodeBadValue},
		{"no url", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":"{\"dName\":\"a\"}"}`, CodeBadValue},
		{"url of the wrong type", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":"{\"url\":5}"}`, CodeBadValue},
		{"negative size", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":"{\"url\":\"u\",\"fLen\":-1}"}`, CodeBadValue},
		{"attachment not a string", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":{"url":"u"}}`, CodeBadValue},
		{"oversize", `{"t":"send","cmid":"a","to_user":2,"type":"file","attachment":"{\"url\":\"` + strings.Repeat("u", MaxAttachmentBytes) + `\"}"}`, CodeBadValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Decode([]byte(c.frame), lim)
			switch {
			case c.code == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case c.code != 0 && (err == nil || err.Code != c.code):
				t.Fatalf("got %v, want code %d", err, c.code)
			case c.code == 0 && f.Attachment == "":
				t.Fatal("attachment lost")
			}
		})
	}
}

func FuzzAttachment(f *testing.F) {
	for _, s := range []string{`{"url":"u"}`, `{"url":"u","fLen":1,"width":2.5}`, `[]`, `null`, `{"url":""}`, `{`, `{"url":"u","duration":-1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Never panics; accepted attachments always have a url.
		if validAttachment(s) == nil && !strings.Contains(s, "url") {
			t.Fatalf("accepted %q", s)
		}
	})
}
