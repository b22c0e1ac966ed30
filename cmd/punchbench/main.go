// Command punchbench is Punchcard's load driver. For each scenario it starts the
// floor the scenario is compared with (a gin hello-world handler for HTTP) and a
// real Punchcard server on loopback, drives each with the same concurrent clients,
// and prints throughput and p50/p99/p99.9 latency side by side with their ratios.
// Both sides run in one process, one after the other, on the same machine, so the
// ratio is meaningful where absolute numbers are not. With -repeat the pair is
// measured again, alternating which side goes first, and each ratio is judged
// by its median.
//
//	go run ./cmd/punchbench                         # every scenario, SQLite (+ PostgreSQL when configured)
//	go run ./cmd/punchbench -scenario customer-get -clients 16 -duration 20s
//	go run ./cmd/punchbench -scenario validate -repeat 3
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
	"maps"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
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
	Repetition int           `json:"repetition,omitempty"` // with -repeat: 1, 2, …
	Floors     []measurement `json:"floors"`
	Punchcard  measurement   `json:"punchcard"`
	Ratios     []ratio       `json:"ratios"`
}

// sides are the comparison's measurements, its floors first, as reported.
func (c comparison) sides() []measurement { return append(slices.Clone(c.Floors), c.Punchcard) }

// label names c in the report: its scenario, and its repetition with -repeat.
func (c comparison) label() string {
	if c.Repetition > 0 {
		return fmt.Sprintf("%s #%d", c.Punchcard.Scenario, c.Repetition)
	}
	return c.Punchcard.Scenario
}

// summary is one ratio of one scenario on one database over every repetition.
type summary struct {
	Scenario string    `json:"scenario"`
	Database string    `json:"database,omitempty"`
	Name     string    `json:"name"`
	Median   float64   `json:"median"`
	Values   []float64 `json:"values"` // one per repetition, in order
	Target   string    `json:"target,omitempty"`
}

type report struct {
	Version     string       `json:"version"`
	GoVersion   string       `json:"go_version"`
	CPUs        int          `json:"cpus"`
	Clients     int          `json:"clients"`
	Rate        float64      `json:"rate,omitempty"`
	Duration    string       `json:"duration"`
	Warmup      string       `json:"warmup"`
	Repeat      int          `json:"repeat"`
	Comparisons []comparison `json:"comparisons"`
	Summary     []summary    `json:"summary"`
}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "punchbench:", err)
		os.Exit(1)
	}
}

func mainErr(args []string, stdout, stderr io.Writer) (rerr error) {
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
		execTrace = fs.String("trace", "", "write a runtime execution trace of the first Punchcard side (client and server) to this file: where requests wait (go tool trace -pprof=sched)")
		repeat    = fs.Int("repeat", 1, "measure each comparison this many times, alternating which side goes first, and judge by the median ratio")
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
	if opts.Clients < 1 || opts.Duration <= 0 || opts.Warmup < 0 || opts.Rate < 0 || *repeat < 1 {
		return errors.New("-clients and -repeat must be ≥ 1, -duration > 0, -warmup and -rate ≥ 0")
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
		Repeat: *repeat,
	}
	var prof *profiles // the first Punchcard side's recordings, then nil
	if *cpuProf != "" || *execTrace != "" {
		prof = &profiles{}
		for _, p := range []struct {
			name string
			w    *io.Writer
		}{{*cpuProf, &prof.cpu}, {*execTrace, &prof.trace}} {
			if p.name == "" {
				continue
			}
			f, err := os.Create(p.name)
			if err != nil {
				return err
			}
			defer func() {
				// A profile or trace cut short must not pass for a whole one.
				if cerr := f.Close(); cerr != nil && rerr == nil {
					rerr = fmt.Errorf("close %s: %w", p.name, cerr)
				}
			}()
			*p.w = f
		}
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
			for n := 1; n <= *repeat; n++ {
				// Even repetitions measure Punchcard before its floors, so that a
				// machine speeding up or slowing down over the run, or a database
				// growing, favours neither side.
				cmp, err := compare(ctx, e, s, db, url, opts, prof, n%2 == 0, stderr)
				if err != nil {
					return err
				}
				prof = nil
				if *repeat > 1 {
					cmp.Repetition = n
				}
				rep.Comparisons = append(rep.Comparisons, cmp)
			}
		}
	}
	rep.Summary = summarize(rep.Comparisons)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(stdout, rep)
	return nil
}

// compare measures scenario s on db once: its floors and its Punchcard side, the
// floors first unless targetFirst. prof, when not nil, receives a CPU profile and
// an execution trace of the Punchcard side, as asked.
func compare(ctx context.Context, e *env, s scenario, db, url string, opts loadOptions, prof *profiles, targetFirst bool, stderr io.Writer) (comparison, error) {
	cmp := comparison{Punchcard: measurement{Scenario: s.name, Database: db, Side: "punchcard", What: s.what}}
	floors := make([]result, len(s.floors))
	runFloors := func() error {
		for i, f := range s.floors {
			fmt.Fprintf(stderr, "%s [%s]: floor %s\n", s.name, db, f.name)
			r, err := f.run(ctx, e, url, s.load(opts))
			if err != nil {
				return fmt.Errorf("%s floor %s: %w", s.name, f.name, err)
			}
			floors[i] = r
			cmp.Floors = append(cmp.Floors, measurement{Scenario: s.name, Database: db, Side: "floor", What: f.name, result: r})
		}
		return nil
	}
	runTarget := func() (err error) {
		fmt.Fprintf(stderr, "%s [%s]: %s\n", s.name, db, s.what)
		if s.measureTarget != nil {
			cmp.Punchcard.result, err = s.measureTarget(ctx, e, url, s.load(opts))
		} else {
			cmp.Punchcard.result, err = measure(ctx, e, s.setupTarget, url, s.load(opts), prof)
		}
		if err != nil {
			return fmt.Errorf("%s on %s: %w", s.name, db, err)
		}
		return nil
	}
	steps := []func() error{runFloors, runTarget}
	if targetFirst {
		steps[0], steps[1] = steps[1], steps[0]
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return comparison{}, err
		}
	}
	cmp.Ratios = s.ratios(cmp.Punchcard.result, floors)
	return cmp, nil
}

// summarize gathers each ratio over the repetitions of its comparison, in the
// order the ratios were first measured, with their median.
func summarize(cmps []comparison) []summary {
	var out []summary
	for _, c := range cmps {
		for _, r := range c.Ratios {
			i := slices.IndexFunc(out, func(s summary) bool {
				return s.Scenario == c.Punchcard.Scenario && s.Database == c.Punchcard.Database && s.Name == r.Name
			})
			if i < 0 {
				out = append(out, summary{Scenario: c.Punchcard.Scenario, Database: c.Punchcard.Database, Name: r.Name, Target: r.Target})
				i = len(out) - 1
			}
			out[i].Values = append(out[i].Values, r.Value)
		}
	}
	for i := range out {
		out[i].Median = median(out[i].Values)
	}
	return out
}

// median is the middle of vs, or the mean of the two middle values.
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// profiles are where the first Punchcard side's run is recorded, when asked.
type profiles struct{ cpu, trace io.Writer }

// measure sets a workload up, drives it and tears it down. The run is
// CPU-profiled and traced into prof's writers (once: a profile holds one run).
func measure(ctx context.Context, e *env, setup func(context.Context, *env, string) (workload, error), db string, opts loadOptions, prof *profiles) (result, error) {
	w, err := setup(ctx, e, db)
	if err != nil {
		return result{}, err
	}
	defer w.close()
	if prof != nil && prof.cpu != nil {
		if err := pprof.StartCPUProfile(prof.cpu); err != nil {
			return result{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if prof != nil && prof.trace != nil {
		if err := trace.Start(prof.trace); err != nil {
			return result{}, fmt.Errorf("execution trace: %w", err)
		}
		defer trace.Stop()
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
		for _, m := range c.sides() {
			errs := fmt.Sprint(m.Errors)
			if m.Dropped > 0 {
				errs += fmt.Sprintf(" (+%d dropped)", m.Dropped)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", c.label(), m.Database, m.What,
				m.Throughput, ms(m.P50), ms(m.P99), ms(m.P999), ms(m.Max), errs)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	failed := false
	for _, c := range rep.Comparisons {
		for _, m := range c.sides() {
			if m.Errors == 0 {
				continue
			}
			kinds := slices.Sorted(maps.Keys(m.Failures))
			for i, k := range kinds {
				kinds[i] = fmt.Sprintf("%d × %s", m.Failures[k], k)
			}
			fmt.Fprintf(w, "%s [%s] %s: %s; the first: %.300q\n", c.label(), m.Database, m.What, strings.Join(kinds, ", "), m.FirstFailure)
			failed = true
		}
	}
	if failed {
		fmt.Fprintln(w)
	}
	late := false
	for _, c := range rep.Comparisons {
		if m := c.Punchcard; m.SendLateP99 > 0 {
			fmt.Fprintf(w, "%s [%s]: the driver sent late by p50 %s, p99 %s (within the latencies above)\n", c.label(), m.Database, ms(m.SendLateP50), ms(m.SendLateP99))
			late = true
		}
	}
	if late {
		fmt.Fprintln(w)
	}
	for _, r := range rep.Summary {
		line := fmt.Sprintf("%s [%s]: %s = %.2f", r.Scenario, r.Database, r.Name, r.Median)
		if len(r.Values) > 1 {
			vs := make([]string, len(r.Values))
			for i, v := range r.Values {
				vs[i] = fmt.Sprintf("%.2f", v)
			}
			line += " (median of " + strings.Join(vs, ", ") + ")"
		}
		if r.Target != "" {
			line += "  (target " + r.Target + ")"
		}
		fmt.Fprintln(w, line)
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
