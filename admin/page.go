package admin

import (
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Page is the result of Lanying's paged list operations (/roster/list,
// /roster/apply/list): the items in data, and the cursor of the next page
// and the list's version beside code in the envelope, not inside data. A
// handler returns *Page as its data.
type Page struct {
	Data any
	// Cursor is passed back as the cursor query parameter to get the next
	// page; empty on the last page, where the envelope has no cursor.
	Cursor string
	// Version changes whenever the listed collection changes.
	Version int64
	// Total is the size of the whole list, for the operations whose
	// answer has one (the /group lists); nil: no total in the envelope.
	Total *int64
}

type pageEnvelope struct {
	Code    int    `json:"code"`
	Data    any    `json:"data"`
	Cursor  string `json:"cursor,omitempty"`
	Version int64  `json:"version"`
	Total   *int64 `json:"total,omitempty"`
}

func writePage(hc *fasthttp.RequestCtx, p *Page) {
	hc.SetContentType("application/json; charset=utf-8")
	b, err := json.Marshal(pageEnvelope{Code: CodeOK, Data: p.Data, Cursor: p.Cursor, Version: p.Version, Total: p.Total})
	if err != nil {
		b = []byte(`{"code":20000,"message":"server error: cannot encode the result"}`)
	}
	hc.SetBody(b)
}

// pageCursor parses a cursor query parameter: the decimal id of the last
// item of the previous page, or empty for the first page.
func pageCursor(r *Req) (int64, error) {
	c, err := r.QueryString("cursor", "")
	if err != nil || c == "" {
		return 0, err
	}
	n, perr := strconv.ParseInt(c, 10, 64)
	if perr != nil || n < 0 {
		return 0, BadParam("cursor", "must be a cursor this operation returned, got %q", clip(c))
	}
	return n, nil
}

// pageLimit parses a limit query parameter: 1 to max, def when absent.
func pageLimit(r *Req, def, max int32) (int, error) {
	n, err := r.QueryInt32("limit", def)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > max {
		return 0, BadParam("limit", "must be between 1 and %d, got %d", max, n)
	}
	return int(n), nil
}
