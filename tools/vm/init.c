// SPDX-License-Identifier: GPL-2.0
/*
 * PID 1 of the test VM: mount what the tests need (proc, sysfs, devtmpfs,
 * tmpfs, cgroup2, debugfs), run the programs the kernel command line names
 * (udmabuf_vm=prog,prog:arg:arg,...), fence each one's output with markers
 * the host parses, then end QEMU (-no-reboot). Their output and the
 * markers go to the second serial port, where no kernel line can cut
 * into them; the kernel's console stays on the first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void run(const char *name, char *const argv[])
{
	char path[256];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "/bin/%s", name);
	printf("==== BEGIN %s\n", name);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execv(path, argv);
		printf("init: cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		status = 255 << 8;
	if (WIFSIGNALED(status))
		printf("==== END %s signal=%d\n", name, WTERMSIG(status));
	else
		printf("==== END %s exit=%d\n", name, WEXITSTATUS(status));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *list = getenv("udmabuf_vm");
	char *progs, *name, *save;
	int out;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	/* sysfs has both folders when the kernel has cgroups and debugfs. */
	mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	/* A port that is not there opens all the same, and fails writes. */
	out = open("/dev/ttyS1", O_WRONLY | O_NOCTTY);
	if (out >= 0 && write(out, "\n", 1) == 1) {
		dup2(out, STDOUT_FILENO);
		dup2(out, STDERR_FILENO);
	}
	if (out >= 0)
		close(out);
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("==== VM UP\n");
	progs = strdup(list ? list : "demo");
	/* name or name:arg:arg..., e.g. udmabuf-uapi:-t:some_test */
	for (name = strtok_r(progs, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		char *args[16] = { name }, *arg_save;
		int n = 1;

		strtok_r(name, ":", &arg_save);
		while (n < 15 && (args[n] = strtok_r(NULL, ":", &arg_save)))
			n++;
		args[n] = NULL;
		if (strcmp(name, "none"))
			run(name, args);
	}
	printf("==== VM DONE\n");
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
