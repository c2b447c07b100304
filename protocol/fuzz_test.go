package protocol

import (
	"testing"
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
