package e2e

import "testing"

// TestRootCreateDateStable: the root identity's CreateDate (iam get-user as root) is the
// same after a restart, as an account's creation date is.
func TestRootCreateDateStable(t *testing.T) {
	t.Parallel() // independent node; runs beside the other sweep tests
	s, root := debianCLINode(t)
	var before, after struct{ User struct{ CreateDate string } }
	awsOK(t, s, root, &before, "iam", "get-user")
	s.stop()
	s.restart()
	awsOK(t, s, root, &after, "iam", "get-user")
	if before.User.CreateDate == "" || before.User.CreateDate != after.User.CreateDate {
		t.Fatalf("root CreateDate %q before the restart, %q after", before.User.CreateDate, after.User.CreateDate)
	}
}
