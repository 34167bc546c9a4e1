package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

// runUsers is `kafkaboot users`: SCRAM credentials, as kafka-configs
// --entity-type users --alter --add-config 'SCRAM-SHA-256=[...]' manages
// them.
func runUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, "users", []action{
		{"list", "list the users with SCRAM credentials and their mechanisms", usersList},
		{"add", "store a SCRAM credential for a user (a new password)", usersAdd},
		{"delete", "delete a user's SCRAM credential", usersDelete},
	}, args, stdin, stdout, stderr)
}

func parseMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func usersList(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("users list", "kafkaboot users list [--user NAME]...", `Prints the users with SCRAM credentials, one row per user and mechanism,
like kafka-configs --describe --entity-type users:

  USER  MECHANISM  ITERATIONS

--user limits the list to the users named (an unknown one is an error).`)
	var (
		cf    clientFlags
		users stringsFlag
	)
	cf.register(fs)
	fs.Var(&users, "user", "user `name` to show (repeatable; default all)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	described, err := adm.DescribeUserSCRAMs(ctx, users...)
	if err != nil {
		return cf.explain("describing users", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
	var errs []error
	for _, u := range described.Sorted() {
		if u.Err != nil {
			errs = append(errs, fmt.Errorf("user %q: %w %s", u.User, u.Err, u.ErrMessage))
			continue
		}
		for _, c := range u.CredInfos {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", u.User, c.Mechanism, c.Iterations)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func usersAdd(ctx context.Context, args []string, stdin io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("users add", "kafkaboot users add --user NAME --mechanism SCRAM-SHA-256|SCRAM-SHA-512 (--password P | --password-stdin) [--iterations N]",
		`Stores a SCRAM credential for a user, replacing one of the same mechanism:
the password is salted and hashed here and only the salted password goes
to the broker (AlterUserScramCredentials), as kafka-configs does.
--password-stdin reads the password from the first line of stdin, which
keeps it out of the shell history.`)
	var (
		cf         clientFlags
		user       = fs.String("user", "", "user `name` (required)")
		mech       = fs.String("mechanism", "SCRAM-SHA-256", "SCRAM `mechanism`")
		password   = fs.String("password", "", "the user's `password`")
		fromStdin  = fs.Bool("password-stdin", false, "read the password from stdin")
		iterations = fs.Int("iterations", 4096, "SCRAM iterations, 4096 to 16384")
	)
	cf.register(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *user == "" {
		return usageErrorf(fs.cmd, "--user is required")
	}
	m, err := parseMechanism(*mech)
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	if *fromStdin {
		if *password != "" {
			return usageErrorf(fs.cmd, "--password and --password-stdin exclude each other")
		}
		line, err := readLine(stdin)
		if err != nil {
			return fmt.Errorf("reading the password from stdin: %w", err)
		}
		*password = line
	}
	if *password == "" {
		return usageErrorf(fs.cmd, "--password or --password-stdin is required")
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: *user, Mechanism: m, Iterations: int32(*iterations), Password: *password}})
	if err != nil {
		return cf.explain("storing the credential", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("user %q: %w %s", r.User, r.Err, r.ErrMessage)
		}
	}
	fmt.Fprintf(stdout, "Stored the %s credential of user %q.\n", m, *user)
	return nil
}

func usersDelete(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlagSet("users delete", "kafkaboot users delete --user NAME --mechanism SCRAM-SHA-256|SCRAM-SHA-512",
		"Deletes a user's SCRAM credential of one mechanism; deleting one that does not exist is an error.")
	var (
		cf   clientFlags
		user = fs.String("user", "", "user `name` (required)")
		mech = fs.String("mechanism", "SCRAM-SHA-256", "SCRAM `mechanism`")
	)
	cf.register(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *user == "" {
		return usageErrorf(fs.cmd, "--user is required")
	}
	m, err := parseMechanism(*mech)
	if err != nil {
		return usageErrorf(fs.cmd, "%v", err)
	}
	adm, ctx, done, err := cf.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: *user, Mechanism: m}}, nil)
	if err != nil {
		return cf.explain("deleting the credential", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("user %q: %w %s", r.User, r.Err, r.ErrMessage)
		}
	}
	fmt.Fprintf(stdout, "Deleted the %s credential of user %q.\n", m, *user)
	return nil
}

// readLine reads the first line of r, without its line ending.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSuffix(b.String(), "\r"), nil
}
