"""Start one untrusted program inside what isolation this machine allows.

Run as ``python -I -S sandbox_launcher.py POLICY_JSON STATUS_FD -- PROGRAM ARGS...``.
It is a separate, single-threaded process so that unshare/fork/setuid happen
safely even when the caller has threads (the power sampler). Standard library
only, and imports nothing from lassi_ee: it starts in milliseconds.

Isolation, each step kept when the kernel allows it and reported either way:
new network and IPC namespaces (no network, no System V or POSIX IPC shared
with anyone), new PID namespace (when the program exits or is killed, every
process it started dies with it), new mount namespace with the whole file
system read-only except the working directory and private, empty /tmp,
/var/tmp and /dev/shm, then resource limits and, when started as root, a
switch to an unprivileged user. The environment is the policy's, as given.

The policy may ask for the program to run ``repeat`` times back to back (short
programs are measured that way, without a new sandbox per run). Nothing carries
over from one run to the next: before each later run, whatever the previous
one left running is killed, the working directory is restored from the
policy's ``pristine`` copy (made before the first run, out of the program's
reach), the private temporary folders are emptied, and the program gets a new
IPC namespace. A program that caches a result on its first run computes it
again on every run.

The last line written to STATUS_FD is JSON: the isolation achieved, the exit
code or signal (of the last run, which is the first that failed), the wall time
of each run, and any error starting it.
"""

import ctypes
import json
import os
import resource
import signal
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
SANDBOX_DIR = "/tmp/work"
_PRIVATE_TMPS = ("/tmp", "/var/tmp", "/dev/shm")
_KEEP_WRITABLE = ("/proc", "/sys", "/dev")
_MOUNT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags):
    _check(_libc.unshare(flags), "unshare")


def _mount(source, target, fstype, flags, data=None):
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """If the process that started us dies (a killed pipeline), we die too.

    The launcher dies with the pipeline, the namespace init with the launcher, and with it
    the program.
    """
    parent = os.getppid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(137)


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def _enter_namespaces(want_network, want_pid, want_mount):
    """Unshare what is wanted; fall back to a user namespace when not privileged."""
    flags = (
        (CLONE_NEWNET | CLONE_NEWIPC if want_network else 0)
        | (CLONE_NEWPID if want_pid else 0)
        | (CLONE_NEWNS if want_mount else 0)
    )
    none = {"network": False, "ipc": False, "pid": False, "mount": False, "user_namespace": False}
    if not flags:
        return none, None
    try:
        _unshare(flags)
        user_ns = False
    except OSError as first:
        uid, gid = os.getuid(), os.getgid()
        try:
            _unshare(flags | CLONE_NEWUSER)
        except OSError as second:
            return (
                none,
                f"no namespaces ({first.strerror}; as user namespace: {second.strerror})",
            )
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        user_ns = True
    return (
        {
            "network": want_network,
            "ipc": want_network,
            "pid": want_pid,
            "mount": want_mount,
            "user_namespace": user_ns,
        },
        None,
    )


def _mount_points():
    points = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            mount_point = fields[4].replace("\\040", " ")
            options = fields[5].split(",")
            points.append((mount_point, options))
    return points


def _confine_filesystem(workdir):
    """Everything read-only but the working directory (seen at SANDBOX_DIR) and private tmps."""
    work_fd = os.open(workdir, os.O_PATH | os.O_DIRECTORY)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for private in _PRIVATE_TMPS:
        if os.path.isdir(private):
            _mount("tmpfs", private, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
    os.mkdir(SANDBOX_DIR)
    _mount(f"/proc/self/fd/{work_fd}", SANDBOX_DIR, None, MS_BIND)
    os.close(work_fd)
    skipped = []
    writable = (SANDBOX_DIR, *_PRIVATE_TMPS)
    for mount_point, options in _mount_points():
        if mount_point in writable or mount_point.startswith(_KEEP_WRITABLE):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= _MOUNT_FLAGS.get(option, 0)
        try:
            _mount(None, mount_point, None, flags)
        except OSError:
            skipped.append(mount_point)
    return skipped


def _mount_proc():
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        return True
    except OSError:
        return False


def _set_limits(limits):
    for name, value in limits.items():
        if value is None:
            continue
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))


def _drop_privileges(uid, gid):
    if os.getuid() != 0 or uid is None:
        return False
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    return True


def _on_path(name, env):
    """The program's file, looked up on the child's PATH before the uid switch.

    After it, this interpreter's own files may be unreadable (os.execvpe imports a module).
    """
    if "/" in name:
        return name
    for folder in env.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return name


def _kill_leftovers():
    """Kill and reap whatever a run left behind.

    A daemon left running would write a cache into the next run. Only pid 1 of a PID
    namespace may do this: its kill(-1) reaches its own namespace and nothing outside it.
    """
    if os.getpid() != 1:
        return
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:  # nothing was left
        return
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def _empty(folder, keep=None):
    """Delete everything in ``folder`` but the entry ``keep`` (a path)."""
    for entry in os.scandir(folder):
        if entry.path == keep:
            continue
        if entry.is_dir(follow_symlinks=False):
            _empty(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def _copy_tree(source, target, owner):
    """Copy the contents of ``source`` into the existing folder ``target``, modes kept.

    Every copy is given to ``owner`` ((uid, gid), or None to keep ours). The kernel copies
    the bytes (sendfile): shutil would cost the launcher 10 ms of imports per start.
    """
    for entry in os.scandir(source):
        path = os.path.join(target, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), path)
        elif entry.is_dir(follow_symlinks=False):
            os.mkdir(path)
            _copy_tree(entry.path, path, owner)
        else:
            with open(entry.path, "rb") as src, open(path, "wb") as dst:
                size = os.fstat(src.fileno()).st_size
                copied = 0
                while copied < size:
                    copied += os.sendfile(dst.fileno(), src.fileno(), copied, size - copied)
        if not entry.is_symlink():
            os.chmod(path, entry.stat(follow_symlinks=False).st_mode & 0o7777)
        if owner is not None:
            os.chown(path, *owner, follow_symlinks=False)


def _start_afresh(policy, isolation, workdir, pristine):
    """Before a later run: nothing of the runs before it is left for it to find."""
    _kill_leftovers()
    if pristine is not None:
        _empty(workdir)
        owner = (policy["uid"], policy["gid"]) if policy.get("uid") is not None else None
        _copy_tree(pristine, workdir, owner)
    if isolation.get("readonly_fs"):  # the private temporary folders are ours to empty
        for private in _PRIVATE_TMPS:
            if os.path.isdir(private):
                _empty(private, keep=SANDBOX_DIR)
    if isolation.get("ipc"):
        _unshare(CLONE_NEWIPC)


def _exec_program(policy, isolation, workdir, env, argv, report_fd):
    """Limit, drop privileges and become the program; report what went wrong if we cannot."""
    try:
        os.chdir(workdir)
        program = _on_path(argv[0], env)
        _set_limits(policy["limits"])
        isolation["uid_dropped"] = _drop_privileges(policy.get("uid"), policy.get("gid"))
        os.write(report_fd, ("ISOLATION " + json.dumps(isolation) + "\n").encode())
        for ignored_by_python in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(ignored_by_python, signal.SIG_DFL)
        os.execve(program, argv, env)
    except BaseException as err:  # report anything that stops the exec, then die
        os.write(report_fd, f"EXECFAIL {err}\n".encode())
    finally:
        os._exit(127)


def _namespace_init(policy, isolation, argv, report_fd):
    """Pid 1 of the new PID namespace: confine the file system, start the program, reap.

    The program runs as pid 2 so that it keeps ordinary signal semantics (pid 1
    ignores SIGXFSZ, SIGPIPE, SIGTERM...). When it exits, this process exits and
    the kernel kills everything else left in the namespace.
    """
    code = 0
    try:
        _die_with_parent()
        workdir = policy["workdir"]
        env = dict(policy["env"])
        pristine = None
        if policy.get("pristine"):  # opened now: confining the file system may hide it
            pristine_fd = os.open(policy["pristine"], os.O_PATH | os.O_DIRECTORY)
            pristine = f"/proc/self/fd/{pristine_fd}"
        if isolation["mount"]:
            try:
                isolation["readonly_skipped"] = _confine_filesystem(workdir)
                isolation["readonly_fs"] = True
                workdir = SANDBOX_DIR
                env["HOME"] = env["TMPDIR"] = SANDBOX_DIR
                if isolation["pid"]:
                    isolation["own_proc"] = _mount_proc()
            except OSError as err:
                isolation["readonly_fs"] = False
                isolation["why_not"] = str(err)
        for run in range(policy.get("repeat", 1)):  # back to back, for short programs
            if run > 0:
                try:
                    _start_afresh(policy, isolation, workdir, pristine)
                except OSError as err:
                    raise OSError(f"could not reset the sandbox between runs: {err}") from err
            started = time.monotonic()
            program = os.fork()
            if program == 0:
                _exec_program(policy, isolation, workdir, env, argv, report_fd)
            while True:
                reaped, status = os.wait()
                if reaped == program:
                    break
            os.write(report_fd, f"RUN {time.monotonic() - started}\n".encode())
            if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
                break
        if os.WIFSIGNALED(status):
            os.write(report_fd, f"SIGNAL {os.WTERMSIG(status)}\n".encode())
        else:
            os.write(report_fd, f"EXIT {os.WEXITSTATUS(status)}\n".encode())
    except BaseException as err:
        os.write(report_fd, f"EXECFAIL {err}\n".encode())
        code = 127
    finally:
        os._exit(code)


def main():
    """Run the command the parent passed, contained, and report how it ended."""
    _die_with_parent()
    policy = json.loads(sys.argv[1])
    status_fd = int(sys.argv[2])
    argv = sys.argv[sys.argv.index("--") + 1 :]
    isolation, why_not = _enter_namespaces(
        policy.get("network_namespace", True),
        policy.get("pid_namespace", True),
        policy.get("readonly_fs", True),
    )
    if why_not:
        isolation["why_not"] = why_not
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _namespace_init(policy, isolation, argv, write_end)
    os.close(write_end)

    def forward(signum, _frame):
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    report = b""
    while True:
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        report += chunk
    _, status = os.waitpid(pid, 0)
    result: dict = {"run_s": [], "exit_code": None, "signal": None, "exec_error": None}
    if os.WIFSIGNALED(status):  # the init itself was killed: the timeout
        result["signal"] = os.WTERMSIG(status)
    for line in report.decode(errors="replace").splitlines():
        kind, _, value = line.partition(" ")
        if kind == "ISOLATION":
            isolation = json.loads(value)
        elif kind == "EXECFAIL":
            result["exec_error"] = value
        elif kind == "RUN":
            result["run_s"].append(float(value))
        elif kind == "EXIT":
            result["exit_code"] = int(value)
        elif kind == "SIGNAL":
            result["signal"] = int(value)
    if result["exit_code"] is None and result["signal"] is None:
        result["exit_code"] = 127
    if not result["run_s"]:  # killed mid-run (the timeout): the time until then
        result["run_s"].append(time.monotonic() - start)
    result["isolation"] = isolation
    os.write(status_fd, (json.dumps(result) + "\n").encode())
    os.close(status_fd)
    sys.exit(result["exit_code"] if result["exit_code"] is not None else 128 + result["signal"])


if __name__ == "__main__":
    main()
