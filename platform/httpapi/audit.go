package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/audit"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

type auditEventBody struct {
	ID         string          `json:"id"`
	Object     string          `json:"object"`
	OccurredAt time.Time       `json:"occurred_at"`
	Actor      audit.Actor     `json:"actor"`
	Action     string          `json:"action"`
	Resource   auditResource   `json:"resource"`
	Outcome    string          `json:"outcome"`
	RequestID  string          `json:"request_id"`
	TraceID    string          `json:"trace_id"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	Seal       *auditSeal      `json:"seal"`
}

type auditResource struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type auditSeal struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

type auditList struct {
	Object     string           `json:"object"`
	DataRef    string           `json:"data_ref"`
	Data       []auditEventBody `json:"data"`
	HasMore    bool             `json:"has_more"`
	NextCursor *string          `json:"next_cursor"`
}

type verificationBody = audit.Verification

func auditParams(list bool) []param {
	ps := []param{
		{"actor", "string", "actor id (an API key id, operator, …)"},
		{"action", "string", "action, e.g. customer.created"},
		{"resource_type", "string", "resource type, e.g. customer"},
		{"resource_id", "string", "resource id"},
		{"from", "string", "RFC 3339 time, inclusive"},
		{"to", "string", "RFC 3339 time, exclusive"},
	}
	if list {
		ps = append(ps, param{"limit", "integer", "page size, at most 100"}, param{"cursor", "string", "next_cursor of the previous page"})
	}
	return ps
}

func toAuditBody(e *audit.Event) auditEventBody {
	b := auditEventBody{
		ID: e.ID, Object: "audit_event", OccurredAt: e.OccurredAt.UTC(),
		Actor: audit.Actor{Type: e.ActorType, ID: e.ActorID}, Action: e.Action,
		Resource: auditResource{Type: e.ResourceType, ID: e.ResourceID}, Outcome: e.Outcome,
		RequestID: e.RequestID, TraceID: e.TraceID, Before: e.Before, After: e.After,
	}
	if e.Seq > 0 {
		b.Seal = &auditSeal{Seq: e.Seq, Hash: e.Hash}
	}
	return b
}

func auditFilter(c *gin.Context) (audit.Filter, error) {
	f := audit.Filter{
		ActorID: c.Query("actor"), Action: c.Query("action"),
		ResourceType: c.Query("resource_type"), ResourceID: c.Query("resource_id"),
		Cursor: c.Query("cursor"),
	}
	var err error
	if f.From, err = queryTime(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return f, err
	}
	if f.Limit, err = queryLimit(c, audit.MaxPage); err != nil {
		return f, err
	}
	return f, nil
}

func queryTime(c *gin.Context, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, problem.Invalidf(name, "%s: %q is not an RFC 3339 time such as 2026-01-31T23:00:00Z", name, v)
	}
	return t, nil
}

// queryLimit reads ?limit=, between 1 and max (default max).
func queryLimit(c *gin.Context, max int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return max, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, problem.Invalidf("limit", "limit: must be an integer between 1 and %d", max)
	}
	return n, nil
}

// queryPage is Voucherify's page query parameter, 1 to max; 0 when absent.
func queryPage(c *gin.Context, max int) (int, error) {
	v := c.Query("page")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, problem.Invalidf("page", "page: must be an integer between 1 and %d", max)
	}
	return n, nil
}

func (s *Server) listAuditEvents(c *gin.Context) error {
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	evs, next, err := s.Audit.List(c.Request.Context(), principal(c).Tenant.ID, f)
	if err != nil {
		return err
	}
	out := auditList{Object: "list", DataRef: "data", Data: make([]auditEventBody, 0, len(evs)), HasMore: next != ""}
	for i := range evs {
		out.Data = append(out.Data, toAuditBody(&evs[i]))
	}
	if next != "" {
		out.NextCursor = &next
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) exportAuditEvents(c *gin.Context) error {
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.Limit = 0
	c.Header("Content-Type", "application/x-ndjson")
	c.Status(http.StatusOK)
	w := bufio.NewWriter(c.Writer)
	enc := json.NewEncoder(w)
	err = s.Audit.Export(c.Request.Context(), principal(c).Tenant.ID, f, func(e *audit.Event) error {
		return enc.Encode(toAuditBody(e))
	})
	if err != nil {
		if !c.Writer.Written() {
			// Nothing is sent yet (the encoder's buffer holds the events so
			// far): the client gets an error, not an empty export.
			c.Writer.Header().Del("Content-Type")
			return err
		}
		// The stream has begun: cut the connection before its last chunk,
		// so that the client sees an incomplete answer, never a complete-
		// looking export that lacks events.
		s.logger.ErrorContext(c.Request.Context(), "audit export failed midway", "error", err)
		if herr := cutStream(c.Writer); herr != nil {
			s.logger.ErrorContext(c.Request.Context(), "cut the audit export", "error", herr)
		}
		return nil
	}
	return w.Flush()
}

// cutStream closes the connection of a response whose body has begun, so
// that it ends without its last chunk and the client sees it cut. gin's writer
// refuses to hijack once body bytes are out: the connection is taken from the
// net/http writer under it (and under any middleware's wrapping).
func cutStream(w http.ResponseWriter) error {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	h, ok := w.(http.Hijacker)
	if !ok {
		return errors.New("the response writer cannot give up its connection")
	}
	conn, _, err := h.Hijack()
	if err != nil {
		return err
	}
	return conn.Close()
}

func (s *Server) verifyAudit(c *gin.Context) error {
	v, err := s.Audit.Verify(c.Request.Context(), principal(c).Tenant.ID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

// AuditEventBody is the public shape of an audit event, shared with the command line.
func AuditEventBody(e *audit.Event) any { return toAuditBody(e) }
