package gateway

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Socket activation (sd_listen_fds(3)): systemd opens the listening
// sockets of a socket unit and passes them from file descriptor 3 on,
// named by the unit's FileDescriptorName=; LISTEN_PID names the process
// they are for. ldapgate then serves on them instead of listening itself,
// so it needs no privilege for ports below 1024, and connections that
// arrive while it restarts wait in the socket's queue instead of failing.
const listenFDsStart = 3

// socketKeys maps the names ldapgate takes to the config key whose address
// the socket replaces: the feature must be configured.
var socketKeys = map[string]string{
	"ldap":    "ldap.listen",
	"ldaps":   "ldap.ldaps_listen",
	"http":    "http.listen",
	"metrics": "metrics.listen",
}

// activated holds the sockets systemd passed until the listeners take them.
type activated struct {
	mu sync.Mutex
	m  map[string]net.Listener
}

// take returns the passed socket called name, once; nil if there is none.
func (a *activated) take(name string) net.Listener {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.m[name]
	delete(a.m, name)
	return l
}

// unused closes the sockets no listener took and returns an error naming
// them, or nil.
func (a *activated) unused() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(a.m)) {
		a.m[name].Close()
		errs = append(errs, fmt.Errorf("socket activation: systemd passed a socket named %s, but %s is not set", name, socketKeys[name]))
	}
	a.m = nil
	return errors.Join(errs...)
}

// passedSocket returns the socket systemd passed called name, which
// replaces the configured addr, or nil.
func (g *Gateway) passedSocket(name, addr string) net.Listener {
	l := g.sockets.take(name)
	if l != nil {
		g.log.Info("serving on a socket passed by systemd", "socket", name, "addr", l.Addr().String(), "replaces", addr)
	}
	return l
}

// listen returns the passed socket called name, or a new listener on addr.
func (g *Gateway) listen(name, addr string) (net.Listener, error) {
	if l := g.passedSocket(name, addr); l != nil {
		return l, nil
	}
	return net.Listen("tcp", addr)
}

// activateSockets takes the sockets systemd passed to this process, if
// any, and removes the variables that name them.
func (g *Gateway) activateSockets() error {
	names, err := listenFDNames(os.Getenv, os.Getpid())
	if err != nil || names == nil {
		return err
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	m := make(map[string]net.Listener, len(names))
	for i, name := range names {
		fd := listenFDsStart + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "socket "+name)
		l, err := net.FileListener(f) // a duplicate of fd
		f.Close()
		if err == nil && m[name] != nil {
			l.Close()
			err = errors.New("a second socket of that name")
		}
		if err != nil {
			for _, l := range m {
				l.Close()
			}
			return fmt.Errorf("socket activation: socket %s (file descriptor %d): %w", name, fd, err)
		}
		m[name] = l
	}
	g.sockets.mu.Lock()
	g.sockets.m = m
	g.sockets.mu.Unlock()
	return nil
}

// listenFDNames reads the socket activation variables and returns the
// names of the sockets passed, in file descriptor order; nil if none are
// for the process pid. A single socket is the LDAP socket whatever its
// name (systemd's default name is the socket unit's); several must be
// named ldap, ldaps, http or metrics.
func listenFDNames(getenv func(string) string, pid int) ([]string, error) {
	if p := getenv("LISTEN_PID"); p == "" || p != strconv.Itoa(pid) {
		return nil, nil
	}
	n, err := strconv.Atoi(getenv("LISTEN_FDS"))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q: expected a number of sockets", getenv("LISTEN_FDS"))
	}
	if n == 0 {
		return nil, nil
	}
	if n == 1 {
		return []string{"ldap"}, nil
	}
	names := strings.Split(getenv("LISTEN_FDNAMES"), ":")
	if len(names) != n {
		return nil, fmt.Errorf("socket activation: %d sockets but LISTEN_FDNAMES names %d; name each with FileDescriptorName= (ldap, ldaps, http, metrics)", n, len(names))
	}
	for _, name := range names {
		if _, ok := socketKeys[name]; !ok {
			return nil, fmt.Errorf("socket activation: socket named %q: expected FileDescriptorName= ldap, ldaps, http or metrics", name)
		}
	}
	return names, nil
}
