package protocol

import (
	"encoding/json"
	"fmt"
)

// MaxAttachmentBytes bounds a message's attachment string.
const MaxAttachmentBytes = 4 << 10

// IsFileType reports whether messages of type t carry a file (image,
// audio, video, file): their attachment may stand in for content.
func IsFileType(t string) bool {
	return t == "image" || t == "audio" || t == "video" || t == "file"
}

// Attachment is the file of a message, in the Lanying message format's
// member names. Only URL is required.
type Attachment struct {
	URL      string  `json:"url"`
	DName    string  `json:"dName,omitempty"`    // display name
	FLen     int64   `json:"fLen,omitempty"`     // bytes
	Width    float64 `json:"width,omitempty"`    // image, video
	Height   float64 `json:"height,omitempty"`   // image, video
	Duration float64 `json:"duration,omitempty"` // audio, video, seconds
}

// validAttachment checks a send frame's attachment: at most
// MaxAttachmentBytes, a JSON object whose "url" is a non-empty string and
// whose known members have their types. Other members pass untouched.
func validAttachment(s string) *Error {
	if len(s) > MaxAttachmentBytes {
		return Errorf(CodeBadValue, fmt.Sprintf(`"attachment" is over %d bytes`, MaxAttachmentBytes))
	}
	var a Attachment
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return Errorf(CodeBadValue, `"attachment" must be a JSON object (in a string) with "url", "dName", "fLen", "width", "height", "duration"`)
	}
	if a.URL == "" {
		return Errorf(CodeBadValue, `"attachment" needs a non-empty "url"`)
	}
	if a.FLen < 0 || a.Width < 0 || a.Height < 0 || a.Duration < 0 {
		return Errorf(CodeBadValue, `"attachment" sizes must not be negative`)
	}
	return nil
}

// AttachmentURL returns the "url" member of an attachment string, or ""
// when it has none.
func AttachmentURL(s string) string {
	var a struct {
		URL string `json:"url"`
	}
	if json.Unmarshal([]byte(s), &a) != nil {
		return ""
	}
	return a.URL
}
