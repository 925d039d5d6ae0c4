package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxIDLen is the longest endpoint or delivery ID the API takes.
const MaxIDLen = 200

// validID checks an ID of the path or a body: at most MaxIDLen of
// [A-Za-z0-9._:-], as webhook.EndpointConfig.Validate wants, so
// "webhooks/<id>" is a topic and never a pattern. "" passes: the caller
// knows whether the ID is optional.
func validID(what, id string) error {
	if len(id) > MaxIDLen {
		return errorf(http.StatusBadRequest, codeInvalid, "%s id longer than %d bytes", what, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return errorf(http.StatusBadRequest, codeInvalid, "%s id %q: only letters, digits and - _ . : are allowed", what, id)
		}
	}
	return nil
}

// decode reads the request's JSON body into v: application/json (415
// otherwise), at most MaxBody bytes (413), one object with known fields
// only (400). An empty body is an empty object when empty is true.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any, empty bool) error {
	if r.ContentLength == 0 && empty && r.Header.Get("Content-Type") == "" {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		return errorf(http.StatusUnsupportedMediaType, codeMediaType, "Content-Type must be application/json, not %q", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody()))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return errorf(http.StatusBadRequest, codeInvalid, "reading the body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 && empty {
		return nil
	}
	return decodeJSON(body, v)
}

// decodeJSON decodes one JSON object with known fields only into v.
func decodeJSON(body []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, codeInvalid, "bad JSON: %v", err)
	}
	if d.More() {
		return errorf(http.StatusBadRequest, codeInvalid, "bad JSON: data after the object")
	}
	if _, err := d.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, codeInvalid, "bad JSON: data after the object")
	}
	return nil
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// query reads the query parameters of the list routes.
type query struct {
	since, until time.Time
	failed       bool
	limit        int
}

// parseQuery reads since and until (RFC 3339), failed (a bool) and limit
// (1 to max). Unknown parameters are refused, so a typo is not ignored.
func parseQuery(r *http.Request, known ...string) (query, error) {
	var q query
	vals := r.URL.Query()
	for k := range vals {
		if !slices.Contains(known, k) {
			return q, errorf(http.StatusBadRequest, codeInvalid, "unknown query parameter %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	var err error
	if q.since, err = parseTime(vals, "since"); err != nil {
		return q, err
	}
	if q.until, err = parseTime(vals, "until"); err != nil {
		return q, err
	}
	if !q.since.IsZero() && !q.until.IsZero() && q.until.Before(q.since) {
		return q, errorf(http.StatusBadRequest, codeInvalid, "until is before since")
	}
	if s := vals.Get("failed"); s != "" {
		if q.failed, err = strconv.ParseBool(s); err != nil {
			return q, errorf(http.StatusBadRequest, codeInvalid, "failed: %q is not true or false", s)
		}
	}
	if s := vals.Get("limit"); s != "" {
		if q.limit, err = strconv.Atoi(s); err != nil || q.limit < 1 || q.limit > MaxLimit {
			return q, errorf(http.StatusBadRequest, codeInvalid, "limit: %q is not a number from 1 to %d", s, MaxLimit)
		}
	}
	return q, nil
}

// MaxLimit is the largest limit a list route takes.
const MaxLimit = 1000

func parseTime(vals map[string][]string, name string) (time.Time, error) {
	v := ""
	if s := vals[name]; len(s) > 0 {
		v = s[0]
	}
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, errorf(http.StatusBadRequest, codeInvalid, "%s: %q is not an RFC 3339 time", name, v)
	}
	return t, nil
}

// ifMatch returns the version an If-Match header asks for, 0 without one.
// "*" matches any version and is 0 as well.
func ifMatch(r *http.Request) (int64, error) { return version(r, "If-Match") }

// version reads an endpoint version from the ETag in header.
func version(r *http.Request, header string) (int64, error) {
	v := strings.TrimSpace(r.Header.Get(header))
	if v == "" || v == "*" {
		return 0, nil
	}
	v = strings.TrimPrefix(v, "W/")
	n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil || n < 1 {
		return 0, errorf(http.StatusBadRequest, codeInvalid, "%s: %q is not an endpoint version (an ETag such as \"3\")", header, v)
	}
	return n, nil
}

// etag is the ETag of an endpoint's version.
func etag(version int64) string { return fmt.Sprintf(`"%d"`, version) }
