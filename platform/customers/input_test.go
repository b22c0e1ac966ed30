package customers

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/punchcard-loyalty/punchcard/platform/metadata"
)

// FuzzInputNormalize decodes arbitrary request bodies the way the API does and
// checks that whatever normalize accepts stays within the documented limits and
// lands in a customer unchanged by a second application.
func FuzzInputNormalize(f *testing.F) {
	for _, seed := range []string{
		`{"source_id":"crm-1","name":"Ada","email":"ada@example.com","birthdate":"1990-12-10"}`,
		`{"name":null,"address":{"city":"Paris","country":"FR"},"metadata":{"n":12345678901234567}}`,
		`{"email":"Ada <ada@example.com>","birthday":"2023-02-30","metadata":{"":1}}`,
		`{"address":{},"metadata":{},"phone":""}`,
	} {
		f.Add(seed)
	}
	today := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		var in struct {
			SourceID    Field[string]         `json:"source_id"`
			Name        Field[string]         `json:"name"`
			Email       Field[string]         `json:"email"`
			Birthdate   Field[string]         `json:"birthdate"`
			Birthday    Field[string]         `json:"birthday"`
			Address     Field[Address]        `json:"address"`
			Metadata    Field[map[string]any] `json:"metadata"`
			Description Field[string]         `json:"description"`
		}
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		norm, err := Input{
			SourceID: in.SourceID, Name: in.Name, Email: in.Email, Birthdate: in.Birthdate, Birthday: in.Birthday,
			Address: in.Address, Metadata: in.Metadata, Description: in.Description,
		}.normalize(today)
		if err != nil {
			return
		}
		var c Customer
		norm.applyTo(&c)
		if utf8.RuneCountInString(c.Name) > MaxName || utf8.RuneCountInString(c.Email) > MaxEmail ||
			utf8.RuneCountInString(c.SourceID) > MaxSourceID || len(c.Metadata) > metadata.MaxKeys {
			t.Fatalf("accepted out-of-limit customer %+v", c)
		}
		if c.Birthdate != "" {
			if d, err := time.Parse(time.DateOnly, c.Birthdate); err != nil || d.After(today.AddDate(0, 0, 1)) {
				t.Fatalf("accepted birthdate %q", c.Birthdate)
			}
		}
		if changed := norm.applyTo(&c); len(changed) != 0 {
			t.Fatalf("second application changed %v", changed)
		}
	})
}
