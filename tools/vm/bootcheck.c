// SPDX-License-Identifier: GPL-2.0
/*
 * The first program of every VM boot: is this the machine the tests are
 * meant to run on? The online CPUs and NUMA nodes QEMU was given (each node
 * with CPUs and memory of its own), the preemption model the command line
 * asks for (preempt=full on the debug kernel, voluntary otherwise: the
 * kernel logs "Dynamic Preempt: <model>" when it sets it), PAT, memcg
 * (cgroup2 lists the memory controller), KSM, the multi-gen LRU, a working
 * userfaultfd and THP "always". Each check is a TAP case; one line sums
 * them up. What no runtime file shows (per-VMA locks, SLUB) run-vm.sh
 * checks in the kernel's .config instead.
 *
 * Usage: bootcheck [-c CPUS] [-n NODES] [-p none|voluntary|full]
 *   defaults: 4 CPUs, 2 nodes, the model of preempt= on the kernel command
 *   line or else voluntary.
 */
#include "udmabuf-user.h"

#include <linux/userfaultfd.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define SYSLOG_ACTION_READ_ALL		3
#define SYSLOG_ACTION_SIZE_BUFFER	10

/* The first line of @path into @buf, without its newline; false if none. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	bool ok = f && fgets(buf, size, f);

	if (f)
		fclose(f);
	if (!ok) {
		snprintf(buf, size, "(%s)", strerror(errno));
		return false;
	}
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

/* How many entries a list such as "0-3,5" names. */
static int list_count(const char *list)
{
	int n = 0, first, last, used;

	while (*list) {
		if (sscanf(list, "%d-%d%n", &first, &last, &used) == 2)
			n += last - first + 1;
		else if (sscanf(list, "%d%n", &first, &used) == 1)
			n++;
		else
			return -1;
		list += used;
		if (*list == ',')
			list++;
	}
	return n;
}

/* The whole kernel log buffer, NUL-terminated (empty if unreadable). */
static char *kernel_log(void)
{
	int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
	char *log = calloc(1, size > 0 ? size + 1 : 1);
	int n = size > 0 ? klogctl(SYSLOG_ACTION_READ_ALL, log, size) : 0;

	log[n > 0 ? n : 0] = '\0';
	return log;
}

/* The word after the last "@key" in @log into @word; false if none. */
static bool last_word_after(const char *log, const char *key, char *word,
			    size_t size)
{
	const char *p, *found = NULL;

	for (p = strstr(log, key); p; p = strstr(p + 1, key))
		found = p + strlen(key);
	if (!found)
		return false;
	snprintf(word, size, "%.*s", (int)strcspn(found, "\n "), found);
	return true;
}

/*
 * The preemption model in force: debugfs's sched/preempt ("none
 * (voluntary) full") when debugfs is mounted, else the kernel log.
 */
static const char *preempt_model(const char *log, char *model, size_t size)
{
	char line[64], *open = NULL, *close = NULL;

	if (read_line("/sys/kernel/debug/sched/preempt", line, sizeof(line)))
		open = strchr(line, '(');
	if (open)
		close = strchr(open, ')');
	if (close) {
		snprintf(model, size, "%.*s", (int)(close - open - 1), open + 1);
		return "debugfs sched/preempt";
	}
	if (last_word_after(log, "Dynamic Preempt: ", model, size))
		return "kernel log";
	snprintf(model, size, "unknown");
	return "neither debugfs nor the kernel log";
}

/* The model preempt= on the kernel command line names, or voluntary. */
static void expected_model(char *model, size_t size)
{
	char cmdline[4096] = " ";

	/* A space before the first word too, so " preempt=" finds it. */
	if (!read_line("/proc/cmdline", cmdline + 1, sizeof(cmdline) - 1) ||
	    !last_word_after(cmdline, " preempt=", model, size))
		snprintf(model, size, "voluntary");
}

static bool check_cpus(int cpus)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	char list[64];
	int listed;

	read_line("/sys/devices/system/cpu/online", list, sizeof(list));
	listed = list_count(list);
	result(online == cpus && listed == cpus,
	       "online CPUs: sysconf %ld, /sys/devices/system/cpu/online %s (%d), expected %d",
	       online, list, listed, cpus);
	return online == cpus && listed == cpus;
}

static bool check_nodes(int nodes)
{
	char list[64], path[96], cpus[64], key[32];
	bool ok;
	int n;

	read_line("/sys/devices/system/node/online", list, sizeof(list));
	n = list_count(list);
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d",
		 nodes - 1);
	ok = n == nodes && !access(path, F_OK);
	result(ok, "NUMA nodes: /sys/devices/system/node/online %s (%d), node%d %s, expected %d",
	       list, n, nodes - 1, access(path, F_OK) ? "absent" : "present",
	       nodes);
	if (!ok)
		return false;

	/* Each node has CPUs and memory of its own. */
	for (int i = 0; i < nodes; i++) {
		long kb;

		snprintf(path, sizeof(path),
			 "/sys/devices/system/node/node%d/cpulist", i);
		read_line(path, cpus, sizeof(cpus));
		snprintf(path, sizeof(path),
			 "/sys/devices/system/node/node%d/meminfo", i);
		snprintf(key, sizeof(key), "Node %d MemTotal", i);
		kb = proc_number(path, key, ':');
		result(kb > 0 && list_count(cpus) > 0,
		       "node%d: CPUs %s, MemTotal %ld MiB", i, cpus,
		       kb > 0 ? kb >> 10 : kb);
		ok &= kb > 0 && list_count(cpus) > 0;
	}
	return ok;
}

static bool check_preempt(const char *log, const char *want, char *model,
			  size_t size)
{
	const char *source = preempt_model(log, model, size);
	bool ok = !strcmp(model, want);

	result(ok, "preemption model %s (from %s), expected %s", model, source,
	       want);
	return ok;
}

static bool check_pat(const char *log)
{
	bool configured = strstr(log, "x86/PAT: Configuration");
	bool disabled = strstr(log, "PAT support disabled") ||
			strstr(log, "PAT not supported");

	result(configured && !disabled,
	       "PAT: kernel log %s \"x86/PAT: Configuration\"%s",
	       configured ? "has" : "lacks",
	       disabled ? " but says PAT is disabled" : "");
	return configured && !disabled;
}

/* The memory controller in cgroup2's root (mounted here if need be). */
static bool check_memcg(void)
{
	const char *path = "/sys/fs/cgroup/cgroup.controllers";
	char controllers[256];
	bool ok;

	if (access(path, F_OK))
		mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	read_line(path, controllers, sizeof(controllers));
	ok = strstr(controllers, "memory");
	result(ok, "memcg: cgroup2 controllers \"%s\"", controllers);
	return ok;
}

static bool check_ksm(void)
{
	char run[16];
	bool ok = read_line("/sys/kernel/mm/ksm/run", run, sizeof(run));

	result(ok, "KSM: /sys/kernel/mm/ksm/run %s", run);
	return ok;
}

static bool check_lru_gen(void)
{
	char enabled[32];
	bool ok = read_line("/sys/kernel/mm/lru_gen/enabled", enabled,
			    sizeof(enabled)) && strtoul(enabled, NULL, 0);

	result(ok, "LRU_GEN: /sys/kernel/mm/lru_gen/enabled %s", enabled);
	return ok;
}

/*
 * A userfaultfd (the syscall, user faults only, or /dev/userfaultfd) that
 * completes the API handshake and registers an anonymous page for missing
 * faults, offering UFFDIO_COPY.
 */
static bool check_userfaultfd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	const char *how = "syscall";
	int uffd, dev, saved;
	bool ok = false;
	void *page;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0) {
		saved = errno;
		how = "/dev/userfaultfd";
		dev = open(how, O_RDWR | O_CLOEXEC);
		uffd = dev < 0 ? -1 : ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
		if (dev >= 0)
			close(dev);
		if (uffd < 0) {
			result(false, "userfaultfd: syscall: %s; /dev/userfaultfd: %s",
			       strerror(saved), strerror(errno));
			return false;
		}
	}
	page = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (unsigned long)page;
	reg.range.len = SZ_4K;
	if (page != MAP_FAILED && !ioctl(uffd, UFFDIO_API, &api) &&
	    api.api == UFFD_API && !ioctl(uffd, UFFDIO_REGISTER, &reg))
		ok = reg.ioctls & (1ULL << _UFFDIO_COPY);
	result(ok, "userfaultfd (%s): API %#llx, registered with ioctls %#llx",
	       how, (unsigned long long)api.api,
	       (unsigned long long)reg.ioctls);
	if (page != MAP_FAILED)
		munmap(page, SZ_4K);
	close(uffd);
	return ok;
}

static bool check_thp(void)
{
	char enabled[64];

	read_line("/sys/kernel/mm/transparent_hugepage/enabled", enabled,
		  sizeof(enabled));
	result(strstr(enabled, "[always]"), "THP: enabled %s", enabled);
	return strstr(enabled, "[always]");
}

int main(int argc, char **argv)
{
	char want[16] = "", model[16], online[64];
	int cpus = 4, nodes = 2, opt;
	bool ok[9];
	char *log;

	while ((opt = getopt(argc, argv, "c:n:p:")) != -1) {
		if (opt == 'c')
			cpus = atoi(optarg);
		else if (opt == 'n')
			nodes = atoi(optarg);
		else if (opt == 'p')
			snprintf(want, sizeof(want), "%s", optarg);
		else
			return 2;
	}
	if (!*want)
		expected_model(want, sizeof(want));
	log = kernel_log();

	printf("TAP version 13\n");
	ok[0] = check_cpus(cpus);
	ok[1] = check_nodes(nodes);
	ok[2] = check_preempt(log, want, model, sizeof(model));
	ok[3] = check_pat(log);
	ok[4] = check_memcg();
	ok[5] = check_ksm();
	ok[6] = check_lru_gen();
	ok[7] = check_userfaultfd();
	ok[8] = check_thp();
	printf("1..%d\n", tap_cases);
	read_line("/sys/devices/system/node/online", online, sizeof(online));
	printf("bootcheck: %ld CPUs, %d nodes, preempt %s, PAT %s, %s, %s, %s, %s, THP %s\n",
	       sysconf(_SC_NPROCESSORS_ONLN), list_count(online), model,
	       ok[3] ? "on" : "off", ok[4] ? "memcg" : "no memcg",
	       ok[5] ? "KSM" : "no KSM", ok[6] ? "LRU_GEN" : "no LRU_GEN",
	       ok[7] ? "userfaultfd" : "no userfaultfd",
	       ok[8] ? "always" : "not always");
	if (tap_failures)
		printf("bootcheck: %d of %d checks failed\n", tap_failures,
		       tap_cases);
	free(log);
	return tap_failures ? 1 : 0;
}
