// Command punchbench is Punchcard's load driver. For each scenario it starts the
// floor the scenario is compared with (a gin hello-world handler for HTTP) and a
// real Punchcard server on loopback, drives each with the same concurrent clients,
// and prints throughput and p50/p99/p99.9 latency side by side with their ratios.
// Both sides run in one process, one after the other, on the same machine, so the
// ratio is meaningful where absolute numbers are not.
//
//	go run ./cmd/punchbench                         # every scenario, SQLite (+ PostgreSQL when configured)
//	go run ./cmd/punchbench -scenario customer-get -clients 16 -duration 20s
//	go run ./cmd/punchbench -rate 2000              # open loop at 2,000 requests/s
//
// PostgreSQL rounds run when PUNCHCARD_BENCH_DATABASE_URL (or
// PUNCHCARD_TEST_DATABASE_URL) names a database; the schema is migrated into it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/punchcard-loyalty/punchcard/platform/app"
	"github.com/punchcard-loyalty/punchcard/platform/buildinfo"
	"github.com/punchcard-loyalty/punchcard/platform/config"
)

// measurement is one side of one comparison.
type measurement struct {
	Scenario string `json:"scenario"`
	Database string `json:"database,omitempty"`
	Side     string `json:"side"` // "floor" or "punchcard"
	What     string `json:"what"`
	result
}

// comparison is one scenario on one database: its floors, Punchcard, and the
// ratios the scenario is judged by.
type comparison struct {
	Floors    []measurement `json:"floors"`
	Punchcard measurement   `json:"punchcard"`
	Ratios    []ratio       `json:"ratios"`
}

type report struct {
	Version     string       `json:"version"`
	GoVersion   string       `json:"go_version"`
	CPUs        int          `json:"cpus"`
	Clients     int          `json:"clients"`
	Rate        float64      `json:"rate,omitempty"`
	Duration    string       `json:"duration"`
	Warmup      string       `json:"warmup"`
	Comparisons []comparison `json:"comparisons"`
}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "punchbench:", err)
		os.Exit(1)
	}
}

func mainErr(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("punchbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opts      loadOptions
		only      = fs.String("scenario", "", "comma-separated scenario names (default: all)")
		dbs       = fs.String("db", "", "comma-separated databases: sqlite, postgres (default: sqlite, and postgres when a URL is set)")
		asJSON    = fs.Bool("json", false, "print the report as JSON")
		list      = fs.Bool("list", false, "list the scenarios and exit")
		pgURLFlag = fs.String("postgres-url", "", "PostgreSQL URL (default: $PUNCHCARD_BENCH_DATABASE_URL, then $PUNCHCARD_TEST_DATABASE_URL)")
		cpuProf   = fs.String("cpuprofile", "", "write a CPU profile of the first Punchcard side (client and server) to this file")
	)
	fs.IntVar(&opts.Clients, "clients", 32, "concurrent clients (closed loop) or the in-flight bound (open loop)")
	fs.Float64Var(&opts.Rate, "rate", 0, "open loop: requests per second (0: closed loop, as fast as answered)")
	fs.DurationVar(&opts.Warmup, "warmup", 2*time.Second, "unrecorded warm-up before each measurement")
	fs.DurationVar(&opts.Duration, "duration", 10*time.Second, "measured window per side")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		for _, s := range scenarios {
			fmt.Fprintf(stdout, "%-20s %s\n", s.name, s.summary)
		}
		return nil
	}
	if opts.Clients < 1 || opts.Duration <= 0 || opts.Warmup < 0 || opts.Rate < 0 {
		return errors.New("-clients must be ≥ 1, -duration > 0, -warmup and -rate ≥ 0")
	}

	pgURL := firstNonEmpty(*pgURLFlag, os.Getenv("PUNCHCARD_BENCH_DATABASE_URL"), os.Getenv("PUNCHCARD_TEST_DATABASE_URL"))
	databases := []string{"sqlite"}
	if pgURL != "" {
		databases = append(databases, "postgres")
	}
	if *dbs != "" {
		databases = strings.Split(*dbs, ",")
		for _, d := range databases {
			switch d {
			case "sqlite":
			case "postgres":
				if pgURL == "" {
					return errors.New("-db postgres needs -postgres-url or PUNCHCARD_BENCH_DATABASE_URL")
				}
			default:
				return fmt.Errorf("-db: unknown database %q (sqlite, postgres)", d)
			}
		}
	}
	selected := scenarios
	if *only != "" {
		selected = nil
		for _, name := range strings.Split(*only, ",") {
			i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
			if i < 0 {
				return fmt.Errorf("-scenario: unknown scenario %q (see -list)", name)
			}
			selected = append(selected, scenarios[i])
		}
	}

	// The servers measured run in this process, tuned as `punchcard serve` tunes
	// itself; the floors run under the same settings.
	cfg, err := config.FromEnv()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return err
	}
	app.TuneRuntime(cfg)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e := &env{client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        opts.Clients * 2,
			MaxIdleConnsPerHost: opts.Clients * 2,
			IdleConnTimeout:     time.Minute,
		},
	}}
	rep := report{
		Version: buildinfo.String(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Clients: opts.Clients, Rate: opts.Rate, Duration: opts.Duration.String(), Warmup: opts.Warmup.String(),
	}
	var prof io.Writer
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			return err
		}
		defer f.Close()
		prof = f
	}
	for _, s := range selected {
		rounds := []string{""}
		if s.perDatabase {
			rounds = databases
		}
		for _, db := range rounds {
			if len(s.databases) > 0 && !slices.Contains(s.databases, db) {
				continue
			}
			url := ""
			if db == "postgres" {
				url = pgURL
			}
			var cmp comparison
			var floors []result
			for _, f := range s.floors {
				fmt.Fprintf(stderr, "%s [%s]: floor %s\n", s.name, db, f.name)
				r, err := f.run(ctx, e, url, s.load(opts))
				if err != nil {
					return fmt.Errorf("%s floor %s: %w", s.name, f.name, err)
				}
				floors = append(floors, r)
				cmp.Floors = append(cmp.Floors, measurement{Scenario: s.name, Database: db, Side: "floor", What: f.name, result: r})
			}
			fmt.Fprintf(stderr, "%s [%s]: %s\n", s.name, db, s.what)
			var target result
			var err error
			if s.measureTarget != nil {
				target, err = s.measureTarget(ctx, e, url, s.load(opts))
			} else {
				target, err = measure(ctx, e, s.setupTarget, url, s.load(opts), prof)
			}
			if err != nil {
				return fmt.Errorf("%s on %s: %w", s.name, db, err)
			}
			prof = nil
			cmp.Punchcard = measurement{Scenario: s.name, Database: db, Side: "punchcard", What: s.what, result: target}
			cmp.Ratios = s.ratios(target, floors)
			rep.Comparisons = append(rep.Comparisons, cmp)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(stdout, rep)
	return nil
}

// measure sets a workload up, drives it and tears it down. With prof, the run is
// CPU-profiled into it (once: a profile holds one run).
func measure(ctx context.Context, e *env, setup func(context.Context, *env, string) (workload, error), db string, opts loadOptions, prof io.Writer) (result, error) {
	w, err := setup(ctx, e, db)
	if err != nil {
		return result{}, err
	}
	defer w.close()
	if prof != nil && pprof.StartCPUProfile(prof) == nil {
		defer pprof.StopCPUProfile()
	}
	r, err := run(ctx, e.client, w.next, opts)
	e.client.CloseIdleConnections()
	return r, err
}

func printReport(w io.Writer, rep report) {
	mode := fmt.Sprintf("closed loop, %d clients", rep.Clients)
	if rep.Rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f req/s, ≤ %d in flight", rep.Rate, rep.Clients)
	}
	fmt.Fprintf(w, "punchbench %s, %s, %d CPUs; %s; %s measured after %s warm-up per side\n\n",
		rep.Version, rep.GoVersion, rep.CPUs, mode, rep.Duration, rep.Warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdb\tside\treq/s\tp50\tp99\tp99.9\tmax\terrors\t")
	for _, c := range rep.Comparisons {
		for _, m := range append(slices.Clone(c.Floors), c.Punchcard) {
			errs := fmt.Sprint(m.Errors)
			if m.Dropped > 0 {
				errs += fmt.Sprintf(" (+%d dropped)", m.Dropped)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", m.Scenario, m.Database, m.What,
				m.Throughput, ms(m.P50), ms(m.P99), ms(m.P999), ms(m.Max), errs)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, c := range rep.Comparisons {
		for _, r := range c.Ratios {
			line := fmt.Sprintf("%s [%s]: %s = %.2f", c.Punchcard.Scenario, c.Punchcard.Database, r.Name, r.Value)
			if r.Target != "" {
				line += "  (target " + r.Target + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
