package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// runACLs is `kafkaboot acls`, like kafka-acls.
func runACLs(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "acls", []action{
		{"list", "list ACLs, all or those matching the flags", aclsList},
		{"add", "add ACLs: principals allowed or denied operations on a resource", aclsAdd},
		{"remove", "remove the ACLs matching the flags", aclsRemove},
	}, args, stdin, stdout, stderr)
}

// aclFlags are kafka-acls' flags for a resource, principals, hosts and
// operations.
type aclFlags struct {
	topic, group, txnID   string
	cluster               bool
	pattern               string
	allow, deny, ops      stringsFlag
	allowHosts, denyHosts stringsFlag
}

func (a *aclFlags) register(fs *flagSet, forAdd bool) {
	fs.StringVar(&a.topic, "topic", "", "the topic `name` (or prefix, with --resource-pattern-type prefixed; * for all)")
	fs.StringVar(&a.group, "group", "", "the consumer group `name`")
	fs.StringVar(&a.txnID, "transactional-id", "", "the transactional `id`")
	fs.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
	def := "any"
	if forAdd {
		def = "literal"
	}
	fs.StringVar(&a.pattern, "resource-pattern-type", def, "literal or prefixed (listing and removing: also any and match)")
	fs.Var(&a.allow, "allow-principal", "`principal` (User:name) allowed (repeatable)")
	fs.Var(&a.deny, "deny-principal", "`principal` (User:name) denied (repeatable)")
	fs.Var(&a.ops, "operation", "`operation`: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite (repeatable)")
	fs.Var(&a.allowHosts, "allow-host", "client `IP` the allowed principals may connect from (repeatable; default *)")
	fs.Var(&a.denyHosts, "deny-host", "client `IP` the denied principals are denied from (repeatable; default *)")
}

// resource is the resource named, for a filter (ANY when none is) or an
// ACL (one is required).
func (a *aclFlags) resource(required bool) (kmsg.ACLResourceType, *string, error) {
	var typ kmsg.ACLResourceType
	var name *string
	n := 0
	if a.topic != "" {
		typ, name, n = kmsg.ACLResourceTypeTopic, kmsg.StringPtr(a.topic), n+1
	}
	if a.group != "" {
		typ, name, n = kmsg.ACLResourceTypeGroup, kmsg.StringPtr(a.group), n+1
	}
	if a.txnID != "" {
		typ, name, n = kmsg.ACLResourceTypeTransactionalId, kmsg.StringPtr(a.txnID), n+1
	}
	if a.cluster {
		typ, name, n = kmsg.ACLResourceTypeCluster, kmsg.StringPtr("kafka-cluster"), n+1
	}
	switch {
	case n > 1:
		return 0, nil, errors.New("name one resource: --topic, --group, --transactional-id or --cluster")
	case n == 0 && required:
		return 0, nil, errors.New("a resource is required: --topic, --group, --transactional-id or --cluster")
	case n == 0:
		return kmsg.ACLResourceTypeAny, nil, nil
	}
	return typ, name, nil
}

func (a *aclFlags) operations(def kmsg.ACLOperation) ([]kmsg.ACLOperation, error) {
	if len(a.ops) == 0 {
		return []kmsg.ACLOperation{def}, nil
	}
	var out []kmsg.ACLOperation
	for _, o := range a.ops {
		op, err := kmsg.ParseACLOperation(o)
		if err != nil {
			return nil, fmt.Errorf("--operation %q is not an operation", o)
		}
		out = append(out, op)
	}
	return out, nil
}

func (a *aclFlags) patternType() (kmsg.ACLResourcePatternType, error) {
	p, err := kmsg.ParseACLResourcePatternType(a.pattern)
	if err != nil {
		return 0, fmt.Errorf("--resource-pattern-type %q: want literal, prefixed, any or match", a.pattern)
	}
	return p, nil
}

// client returns a client of the cluster and ctx bounded by
// --command-timeout.
func (c *clientFlags) client(ctx context.Context) (*kgo.Client, context.Context, func(), error) {
	opts, err := c.opts()
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating client: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	return cl, ctx, func() { cancel(); cl.Close() }, nil
}

const aclTableHeader = "PRINCIPAL\tHOST\tOPERATION\tPERMISSION\tRESOURCE-TYPE\tNAME\tPATTERN"

// printACL writes one row of aclTableHeader.
func printACL(w io.Writer, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType,
	typ kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType) {
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", principal, host, op, perm, typ, name, pattern)
}

func aclsList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("acls list", "kafkaboot acls list [--topic T | --group G | --transactional-id I | --cluster] [--resource-pattern-type any|match|literal|prefixed] [--principal P]",
		`Prints the ACLs matching the flags (all by default), like kafka-acls --list:

  PRINCIPAL  HOST  OPERATION  PERMISSION  RESOURCE-TYPE  NAME  PATTERN

--resource-pattern-type match lists every ACL that applies to the named
resource: literal ones on its name or *, and prefixed ones on a prefix of it.`)
	var (
		cf        clientFlags
		af        aclFlags
		principal = fs.String("principal", "", "only the ACLs of `principal` (User:name)")
	)
	cf.register(fs)
	af.register(fs, false)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	typ, name, err := af.resource(false)
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	pattern, err := af.patternType()
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	cl, ctx, done, err := cf.client(ctx)
	if err != nil {
		return err
	}
	defer done()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourceName, req.ResourcePatternType = typ, name, pattern
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if *principal != "" {
		req.Principal = principal
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return cf.explain("listing ACLs", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("listing ACLs: %w %s", err, deref(resp.ErrorMessage))
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, aclTableHeader)
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			printACL(tw, a.Principal, a.Host, a.Operation, a.PermissionType, r.ResourceType, r.ResourceName, r.ResourcePatternType)
		}
	}
	return tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func aclsAdd(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("acls add", "kafkaboot acls add (--allow-principal P | --deny-principal P)... --operation OP... (--topic T | --group G | --transactional-id I | --cluster) [--resource-pattern-type literal|prefixed] [--allow-host IP]... [--deny-host IP]...",
		`Adds an ACL for each principal, operation and host, like kafka-acls --add:
the allowed principals from each --allow-host, the denied ones from each
--deny-host (default * for both).`)
	var (
		cf clientFlags
		af aclFlags
	)
	cf.register(fs)
	af.register(fs, true)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	typ, name, err := af.resource(true)
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	pattern, err := af.patternType()
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	if len(af.allow)+len(af.deny) == 0 {
		return usageErrorf(fs.cmd, "--allow-principal or --deny-principal is required")
	}
	if len(af.ops) == 0 {
		return usageErrorf(fs.cmd, "--operation is required")
	}
	ops, err := af.operations(kmsg.ACLOperationAll)
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	orAll := func(hs []string) []string {
		if len(hs) == 0 {
			return []string{"*"}
		}
		return hs
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for _, perm := range []struct {
		principals, hosts []string
		perm              kmsg.ACLPermissionType
	}{{af.allow, orAll(af.allowHosts), kmsg.ACLPermissionTypeAllow}, {af.deny, orAll(af.denyHosts), kmsg.ACLPermissionTypeDeny}} {
		for _, p := range perm.principals {
			for _, op := range ops {
				for _, h := range perm.hosts {
					c := kmsg.NewCreateACLsRequestCreation()
					c.ResourceType, c.ResourceName, c.ResourcePatternType = typ, *name, pattern
					c.Principal, c.Host, c.Operation, c.PermissionType = p, h, op, perm.perm
					req.Creations = append(req.Creations, c)
				}
			}
		}
	}
	cl, ctx, done, err := cf.client(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return cf.explain("adding ACLs", err)
	}
	var errs []error
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			c := req.Creations[i]
			errs = append(errs, fmt.Errorf("%s %s %s on %s %s: %w %s", c.PermissionType, c.Principal, c.Operation, c.ResourceType, c.ResourceName, err, deref(r.ErrorMessage)))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintf(stdout, "Added %d ACLs for %s %s (%s).\n", len(req.Creations), typ, *name, strings.ToLower(pattern.String()))
	return nil
}

func aclsRemove(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("acls remove", "kafkaboot acls remove [--topic T | --group G | --transactional-id I | --cluster] [--resource-pattern-type ...] [--allow-principal P | --deny-principal P]... [--operation OP]... [--allow-host IP]... [--deny-host IP]...",
		`Removes the ACLs matching the flags, like kafka-acls --remove, and prints
them. A flag left out matches anything; with no flag at all every ACL is
removed.`)
	var (
		cf clientFlags
		af aclFlags
	)
	cf.register(fs)
	af.register(fs, false)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	typ, name, err := af.resource(false)
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	pattern, err := af.patternType()
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	ops, err := af.operations(kmsg.ACLOperationAny)
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	// Each principal with its permission and hosts; none named: any
	// principal, permission and host.
	type who struct {
		principal *string
		perm      kmsg.ACLPermissionType
		hosts     []*string
	}
	hostsOf := func(hs []string) []*string {
		if len(hs) == 0 {
			return []*string{nil}
		}
		var out []*string
		for _, h := range hs {
			out = append(out, kmsg.StringPtr(h))
		}
		return out
	}
	var whos []who
	for _, p := range af.allow {
		whos = append(whos, who{kmsg.StringPtr(p), kmsg.ACLPermissionTypeAllow, hostsOf(af.allowHosts)})
	}
	for _, p := range af.deny {
		whos = append(whos, who{kmsg.StringPtr(p), kmsg.ACLPermissionTypeDeny, hostsOf(af.denyHosts)})
	}
	if len(whos) == 0 {
		whos = []who{{nil, kmsg.ACLPermissionTypeAny, hostsOf(append(af.allowHosts, af.denyHosts...))}}
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, w := range whos {
		for _, op := range ops {
			for _, h := range w.hosts {
				f := kmsg.NewDeleteACLsRequestFilter()
				f.ResourceType, f.ResourceName, f.ResourcePatternType = typ, name, pattern
				f.Principal, f.Host, f.Operation, f.PermissionType = w.principal, h, op, w.perm
				req.Filters = append(req.Filters, f)
			}
		}
	}
	cl, ctx, done, err := cf.client(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return cf.explain("removing ACLs", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, aclTableHeader)
	var errs []error
	for _, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("removing ACLs: %w %s", err, deref(r.ErrorMessage)))
			continue
		}
		for _, m := range r.MatchingACLs {
			printACL(tw, m.Principal, m.Host, m.Operation, m.PermissionType, m.ResourceType, m.ResourceName, m.ResourcePatternType)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return errors.Join(errs...)
}
