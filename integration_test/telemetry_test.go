package integration_test

// R16: telemetry hygiene. Inbound `baggage` and `traceparent` naming another tenant
// never make a request that tenant's, and personal data sent in requests (a canary
// email, name and phone) never appears in span names, attributes, events or status,
// in the logs, or in the audit trail.

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/punchcard-loyalty/punchcard/platform/config"
	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

func TestTelemetryHygiene(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			dir := t.TempDir()
			s, err := startServer(b, func(c *config.Config) { c.DataDir = dir }, rec)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.stop)

			victim, caller := s.newTenant(t), s.newTenant(t)
			canaryEmail := fmt.Sprintf("canary.%s@example.com", caller.Slug)
			canaryName := "Canary Nightingale " + caller.Slug
			canaryPhone := "+49 151 5550 1234"
			canaries := []string{canaryEmail, canaryName, canaryPhone}

			// The caller's key, wrapped in everything that could name the victim.
			forged := caller.bearer()
			forged["baggage"] = "tenant.id=" + victim.ID + ",tenant_id=" + victim.ID + ",punchcard.tenant_id=" + victim.ID
			forged["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			forged["X-Tenant-Id"] = victim.ID

			var c struct {
				ID string `json:"id"`
			}
			mark := len(rec.Ended())
			r := s.do(t, "POST", "/v1/customers", forged, map[string]any{
				"source_id": "canary", "email": canaryEmail, "name": canaryName, "phone": canaryPhone,
				"address": map[string]any{"city": canaryName},
			})
			r.wantStatus(t, http.StatusOK)
			r.decode(t, &c)
			s.do(t, "PUT", "/v1/customers/"+c.ID, forged, map[string]any{"name": canaryName + " II", "email": "x" + canaryEmail}).wantStatus(t, http.StatusOK)
			s.do(t, "GET", "/v1/customers?email="+url.QueryEscape(canaryEmail), forged, nil).wantStatus(t, http.StatusOK)
			s.do(t, "GET", "/v1/customers/canary", forged, nil).wantStatus(t, http.StatusOK)
			// Rejected input carrying personal data takes the error path.
			s.do(t, "POST", "/v1/customers", forged, map[string]any{"source_id": "canary-2", "name": canaryName, "email": canaryEmail + "@@"}).wantStatus(t, http.StatusBadRequest)
			s.do(t, "POST", "/v1/customers/canary/permanent-deletion", forged, nil).wantStatus(t, http.StatusOK)

			end := len(rec.Ended())
			// The victim's data is untouched: the caller's upsert landed in the caller's tenant.
			s.do(t, "GET", "/v1/customers/canary", victim.bearer(), nil).wantStatus(t, http.StatusNotFound)

			// The caller's traces are those of the server spans ended by its requests
			// (the sealer's background spans legitimately name every tenant it seals).
			spans := rec.Ended()
			callerTraces := map[oteltrace.TraceID]bool{}
			for _, sp := range spans[mark:end] {
				if sp.SpanKind() == oteltrace.SpanKindServer {
					callerTraces[sp.SpanContext().TraceID()] = true
				}
			}
			if len(callerTraces) == 0 {
				t.Fatal("no server spans recorded for the caller's requests")
			}
			callerSpans := 0
			for _, sp := range spans {
				ofCaller := callerTraces[sp.SpanContext().TraceID()]
				var texts []string
				texts = append(texts, sp.Name(), sp.Status().Description)
				for _, a := range sp.Attributes() {
					for _, personal := range telemetry.PersonalAttributes {
						if a.Key == personal {
							t.Errorf("span %q records %s (personal data): %s", sp.Name(), a.Key, a.Value.String())
						}
					}
					v := a.Value.String()
					texts = append(texts, string(a.Key)+"="+v)
					if a.Key == "tenant.id" && v == caller.ID {
						callerSpans++
					}
				}
				for _, ev := range sp.Events() {
					texts = append(texts, ev.Name)
					for _, a := range ev.Attributes {
						texts = append(texts, string(a.Key)+"="+a.Value.String())
					}
				}
				for _, tx := range texts {
					if ofCaller && strings.Contains(tx, victim.ID) {
						t.Errorf("span %q names the victim tenant: %s", sp.Name(), tx)
					}
					for _, canary := range canaries {
						if strings.Contains(tx, canary) || strings.Contains(tx, url.QueryEscape(canary)) {
							t.Errorf("span %q carries personal data: %s", sp.Name(), tx)
						}
					}
				}
			}
			// Positive control: the recorder saw the caller's requests, stamped with
			// the caller's tenant from the key.
			if callerSpans < 6 {
				t.Fatalf("only %d of %d spans carry tenant.id=%s; the recorder or the stamping is broken", callerSpans, len(spans), caller.ID)
			}

			logs := s.logs.String()
			if !strings.Contains(logs, `"tenant_id":"`+caller.ID+`"`) {
				t.Fatalf("logs never name the caller's tenant; the log check cannot see anything:\n%s", logs)
			}
			if strings.Contains(logs, victim.ID) {
				// The victim's own creation is logged by the operator route without a tenant id.
				for _, line := range strings.Split(logs, "\n") {
					if strings.Contains(line, victim.ID) && strings.Contains(line, caller.ID) {
						t.Errorf("a log line of the caller's requests names the victim: %s", line)
					}
				}
			}
			for _, canary := range canaries {
				if strings.Contains(logs, canary) || strings.Contains(logs, url.QueryEscape(canary)) {
					t.Errorf("logs carry personal data %q", canary)
				}
			}

			export := s.do(t, "GET", "/v1/audit-events/export", caller.bearer(), nil)
			export.wantStatus(t, http.StatusOK)
			if !strings.Contains(string(export.body), c.ID) {
				t.Fatalf("audit export lacks the customer's events: %s", export.body)
			}
			for _, canary := range canaries {
				if strings.Contains(string(export.body), canary) {
					t.Errorf("audit export carries personal data %q", canary)
				}
			}
			if t.Failed() && os.Getenv("PUNCHCARD_TEST_VERBOSE") != "" {
				t.Logf("logs:\n%s", logs)
			}
		})
	}
}
