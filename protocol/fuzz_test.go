package protocol

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks the decoder's contract on arbitrary input: it never
// panics; every rejection carries a request-error code and a frame exactly
// when the rid may have been readable; an accepted frame passes Validate
// and survives Encode -> Decode with every client field intact.
//
// The seed corpus is in testdata/fuzz/FuzzDecode: valid frames of each type
// and hostile ones. Run: go test -run=^$ -fuzz=FuzzDecode ./protocol/
func FuzzDecode(f *testing.F) {
	// Tight limits make the fuzzer reach every size check with short inputs.
	tight := Limits{
		MaxFrameBytes: 256, MaxContentBytes: 16, MaxExtBytes: 8, MaxCMIDBytes: 4,
		MaxTokenBytes: 8, MaxSyncLimit: 3, FramesPerSecond: 1, FrameBurst: 1,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{DefaultLimits(), tight} {
			checkDecode(t, data, lim)
		}
	})
}

func checkDecode(t *testing.T, data []byte, lim Limits) {
	fr, err := Decode(data, lim)
	if err != nil {
		switch err.Code {
		case CodeBadFrame, CodeFrameTooLarge:
			if fr != nil {
				t.Fatalf("code %d with a frame %+v", err.Code, fr)
			}
		case CodeUnknownType, CodeMissingField, CodeBadValue:
			if fr == nil {
				t.Fatalf("code %d without a frame to carry the rid", err.Code)
			}
		default:
			t.Fatalf("Decode returned code %d (%v), not a request error", err.Code, err)
		}
		if err.Detail == "" {
			t.Fatalf("code %d without detail", err.Code)
		}
		return
	}
	if fr == nil {
		t.Fatal("Decode returned neither frame nor error")
	}
	if verr := fr.Validate(lim); verr != nil {
		t.Fatalf("decoded frame fails Validate: %v\n%+v", verr, fr)
	}
	enc, eerr := Encode(fr)
	if eerr != nil {
		t.Fatalf("Encode of a decoded frame: %v", eerr)
	}
	// Encoding may escape characters ("<" becomes "\u003c"), so the frame
	// can grow; the size limit was checked on the input already.
	roomy := lim
	roomy.MaxFrameBytes = 6*len(enc) + 64
	back, berr := Decode(enc, roomy)
	if berr != nil {
		t.Fatalf("re-decoding %s: %v", enc, berr)
	}
	if !sameClientFields(fr, back) {
		t.Fatalf("round trip changed the frame\n  in %q\n got %+v\nwant %+v", data, *back, *fr)
	}
}

// FuzzExactMembers checks the allocation-free scan of member names against
// the encoding/json reading of them (exactMembersSlow) on valid JSON
// objects: both reject the same repeated names and keep the same members.
// Run: go test -run=^$ -fuzz=FuzzExactMembers ./protocol/
func FuzzExactMembers(f *testing.F) {
	for _, s := range []string{`{"t":"ping","rid":1}`, `{"T":"ping","t":"ping"}`, `{"rid":1,"rid":2}`,
		`{"t":"x","a":{"rid":1,"rid":1},"b":["}",","]}`, `{"Rid":"q","t":"ping"}`, `{"r\u0069d":1,"rid":2}`, `{}`, `{"a":"\"","A":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		trimmed := bytes.TrimSpace(data)
		if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) || !utf8.Valid(trimmed) {
			return
		}
		fast, ferr := exactMembers(trimmed)
		slow, serr := exactMembersSlow(trimmed)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("%q: fast error %v, slow error %v", trimmed, ferr, serr)
		}
		if ferr != nil {
			return
		}
		var a, b map[string]json.RawMessage
		if json.Unmarshal(fast, &a) != nil || json.Unmarshal(slow, &b) != nil {
			t.Fatalf("%q: output not an object: fast %q slow %q", trimmed, fast, slow)
		}
		if len(a) != len(b) {
			t.Fatalf("%q: fast kept %q, slow kept %q", trimmed, fast, slow)
		}
		for k := range a {
			if _, ok := b[k]; !ok {
				t.Fatalf("%q: fast kept %q, slow did not", trimmed, k)
			}
		}
	})
}
