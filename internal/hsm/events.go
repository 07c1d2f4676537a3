package hsm

import (
	"sync"
	"time"
)

// Audit opcodes and results, named like CloudHSM's HSM audit log so that the audit trail
// can be read by people who know CloudHSM.
const (
	OpLogin           = "CN_LOGIN"
	OpLogout          = "CN_LOGOUT"
	OpCreateUser      = "CN_CREATE_USER"
	OpDeleteUser      = "CN_DELETE_USER"
	OpChangePassword  = "CN_CHANGE_PSWD"
	OpChangeMFA       = "CN_CHANGE_MFA"
	OpChangeQuorum    = "CN_CHANGE_QUORUM"
	OpSetPolicy       = "CN_SET_POLICY"
	OpInitialize      = "CN_INIT_TOKEN"
	OpActivate        = "CN_ACTIVATE"
	OpZeroize         = "CN_ZEROIZE"
	OpGenerateKey     = "CN_GENERATE_KEY"
	OpGenerateKeyPair = "CN_GENERATE_KEY_PAIR"
	OpImportKey       = "CN_INSERT_MASKED_OBJECT"
	OpWrapKey         = "CN_WRAP_KEY"
	OpUnwrapKey       = "CN_UNWRAP_KEY"
	OpDeriveKey       = "CN_DERIVE_KEY"
	OpDestroyObject   = "CN_DESTROY_OBJECT"
	OpShareObject     = "CN_SHARE_OBJECT"
	OpSetAttribute    = "CN_MODIFY_OBJECT"
	OpQuorumToken     = "CN_QUORUM_TOKEN"

	ResultOK           = "RET_OK"
	ResultLoginFailure = "RET_USER_LOGIN_FAILURE"
	ResultUserLocked   = "RET_USER_LOCKED"
	ResultZeroized     = "RET_ZEROIZED"
	ResultDenied       = "RET_ACCESS_DENIED"
	ResultError        = "RET_ERROR"
)

// Event is one HSM audit event: a login attempt, a management command, a lockout or a
// zeroization. It never carries secret material: no passwords, no key bytes, no tokens.
type Event struct {
	Time         time.Time `json:"time"`
	Opcode       string    `json:"opcode"`
	Result       string    `json:"result"`
	User         string    `json:"user,omitempty"` // who acted (or tried to log in)
	Role         string    `json:"role,omitempty"`
	Target       string    `json:"target,omitempty"`        // the user or key reference acted on
	FailedLogins int       `json:"failed_logins,omitempty"` // the consecutive-failure count after a failed login
	Message      string    `json:"message,omitempty"`
}

// EventSink receives HSM events. It is the one interface through which failed logins,
// lockouts and zeroization reach the audit trail and the alarms. HSMEvent is called
// synchronously on the node that executed the operation, after the state change it reports
// was committed; it must not block for long and must not call back into the HSM.
type EventSink interface {
	HSMEvent(Event)
}

// EventSinkFunc adapts a function to an EventSink.
type EventSinkFunc func(Event)

// HSMEvent calls f(e).
func (f EventSinkFunc) HSMEvent(e Event) { f(e) }

// EventLog is an EventSink that keeps the most recent events in memory. The server uses it
// until the audit trail exists; tests use it to assert what was emitted.
type EventLog struct {
	mu     sync.Mutex
	max    int
	events []Event
}

// NewEventLog keeps at most max events (the oldest are dropped).
func NewEventLog(max int) *EventLog { return &EventLog{max: max} }

// HSMEvent records e.
func (l *EventLog) HSMEvent(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if len(l.events) > l.max {
		l.events = append([]Event(nil), l.events[len(l.events)-l.max:]...)
	}
}

// Events returns a copy of the recorded events, oldest first.
func (l *EventLog) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

type multiSink []EventSink

func (m multiSink) HSMEvent(e Event) {
	for _, s := range m {
		s.HSMEvent(e)
	}
}

// MultiSink fans an event out to several sinks, in order.
func MultiSink(sinks ...EventSink) EventSink { return multiSink(sinks) }
