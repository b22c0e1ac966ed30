package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/telemetry"
)

// The client a fraud policy sees (input.request.ip) is the peer unless the peer
// is a trusted proxy: a forged X-Forwarded-For from anyone else is ignored.
func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		want    string
	}{
		{"no trusted proxies", nil, "192.0.2.10"},
		{"the peer is a trusted proxy", []string{"192.0.2.0/24"}, "203.0.113.7"},
		{"another range is trusted", []string{"198.51.100.1"}, "192.0.2.10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeps()
			d.TrustedProxies = tc.trusted
			s := New(d)
			s.engine.GET("/client-ip", func(c *gin.Context) { c.String(200, telemetry.ClientIP(withClient(c))) })
			req := httptest.NewRequest("GET", "/client-ip", nil)
			req.RemoteAddr = "192.0.2.10:4711"
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			rec := httptest.NewRecorder()
			s.engine.ServeHTTP(rec, req)
			if rec.Code != 200 || rec.Body.String() != tc.want {
				t.Errorf("client ip = %d %q, want %q", rec.Code, rec.Body.String(), tc.want)
			}
		})
	}
}
