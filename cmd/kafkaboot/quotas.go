package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// runQuotas is `kafkaboot quotas`: client quotas, as kafka-configs
// --entity-type users/clients manages them.
func runQuotas(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "quotas", []action{
		{"list", "list client quotas (all, or those of one user or client id)", quotasList},
		{"set", "set or remove quotas of a user, a client id, or both", quotasSet},
	}, args, stdin, stdout, stderr)
}

// entityFlags name a quota entity with kafka-configs' shorthands: --user,
// --user-defaults, --client, --client-defaults.
type entityFlags struct {
	user, client               string
	userDefault, clientDefault bool
}

func (e *entityFlags) register(fs *flagSet) {
	fs.StringVar(&e.user, "user", "", "the user `name` (the principal's name, ANONYMOUS without authentication)")
	fs.BoolVar(&e.userDefault, "user-defaults", false, "the default of all users (<default>)")
	fs.StringVar(&e.client, "client", "", "the client `id`")
	fs.BoolVar(&e.clientDefault, "client-defaults", false, "the default of all client ids (<default>)")
}

func (e *entityFlags) check() error {
	if e.user != "" && e.userDefault {
		return fmt.Errorf("--user and --user-defaults exclude each other")
	}
	if e.client != "" && e.clientDefault {
		return fmt.Errorf("--client and --client-defaults exclude each other")
	}
	return nil
}

func (e *entityFlags) any() bool {
	return e.user != "" || e.userDefault || e.client != "" || e.clientDefault
}

// entity is the entity named, for AlterClientQuotas.
func (e *entityFlags) entity() kadm.ClientQuotaEntity {
	var out kadm.ClientQuotaEntity
	switch {
	case e.user != "":
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "user", Name: kmsg.StringPtr(e.user)})
	case e.userDefault:
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "user"})
	}
	switch {
	case e.client != "":
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "client-id", Name: kmsg.StringPtr(e.client)})
	case e.clientDefault:
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "client-id"})
	}
	return out
}

// filter is the entity named as a describe filter: exact names, defaults.
func (e *entityFlags) filter() []kadm.DescribeClientQuotaComponent {
	var out []kadm.DescribeClientQuotaComponent
	switch {
	case e.user != "":
		out = append(out, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: kmsg.StringPtr(e.user), MatchType: 0})
	case e.userDefault:
		out = append(out, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: 1})
	}
	switch {
	case e.client != "":
		out = append(out, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchName: kmsg.StringPtr(e.client), MatchType: 0})
	case e.clientDefault:
		out = append(out, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 1})
	}
	return out
}

func quotasList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("quotas list", "kafkaboot quotas list [--user NAME | --user-defaults] [--client ID | --client-defaults]",
		`Prints the client quotas, like kafka-configs --describe --entity-type
users/clients, one row per entity and quota:

  ENTITY  QUOTA  VALUE

Without an entity flag every quota is listed; with some, the entities
matching them (--user alice lists alice's quotas, also those with a client
id).`)
	var (
		cf clientFlags
		ef entityFlags
	)
	cf.register(fs)
	ef.register(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if err := ef.check(); err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	filter := ef.filter()
	if len(filter) == 0 {
		filter = []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 2}}
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	described, err := adm.DescribeClientQuotas(ctx, false, filter)
	if err != nil {
		return cf.explain("describing quotas", err)
	}
	if len(ef.filter()) == 0 {
		// Quotas of client ids alone are not matched by a user filter.
		more, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}})
		if err != nil {
			return cf.explain("describing quotas", err)
		}
		described = append(described, more...)
	}
	sort.Slice(described, func(i, j int) bool { return described[i].Entity.String() < described[j].Entity.String() })
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tQUOTA\tVALUE")
	for _, q := range described {
		vals := append(kadm.ClientQuotaValues(nil), q.Values...)
		sort.Slice(vals, func(i, j int) bool { return vals[i].Key < vals[j].Key })
		for _, v := range vals {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", entityString(q.Entity), v.Key, strconv.FormatFloat(v.Value, 'f', -1, 64))
		}
	}
	return tw.Flush()
}

// entityString is an entity as kafka-configs names it:
// user=alice,client-id=<default>.
func entityString(e kadm.ClientQuotaEntity) string {
	parts := make([]string, len(e))
	for i, c := range e {
		parts[i] = c.String()
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func quotasSet(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("quotas set", "kafkaboot quotas set (--user NAME | --user-defaults) [--client ID | --client-defaults] [--add-config k=v,...] [--delete-config k,...]",
		`Sets and removes quotas of one entity, like kafka-configs --alter
--add-config/--delete-config --entity-type users/clients. Quotas:
producer_byte_rate and consumer_byte_rate (bytes per second, per broker),
request_percentage (percent of one request thread), controller_mutation_rate.`)
	var (
		cf  clientFlags
		ef  entityFlags
		add = fs.String("add-config", "", "quotas to set, `key=value[,key=value]`")
		del = fs.String("delete-config", "", "quotas to remove, `key[,key]`")
	)
	cf.register(fs)
	ef.register(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if err := ef.check(); err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	if !ef.any() {
		return usageErrorf(fs.cmd, "name an entity: --user, --user-defaults, --client or --client-defaults")
	}
	var ops []kadm.AlterClientQuotaOp
	for _, kv := range splitNonEmpty(*add) {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil {
			return usageErrorf(fs.cmd, "--add-config: %q is not key=number", kv)
		}
		ops = append(ops, kadm.AlterClientQuotaOp{Key: strings.TrimSpace(k), Value: f})
	}
	for _, k := range splitNonEmpty(*del) {
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	if len(ops) == 0 {
		return usageErrorf(fs.cmd, "--add-config or --delete-config is required")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: ef.entity(), Ops: ops}})
	if err != nil {
		return cf.explain("altering quotas", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("%s: %w %s", entityString(r.Entity), r.Err, r.ErrMessage)
		}
	}
	fmt.Fprintf(stdout, "Completed updating quotas of %s.\n", entityString(ef.entity()))
	return nil
}

func splitNonEmpty(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
