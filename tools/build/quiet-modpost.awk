#!/usr/bin/awk -f
# SPDX-License-Identifier: GPL-2.0
#
# kunit.py prints a build's whole stderr. modpost warns about every one of
# clang's coverage sections (__llvm_covfun and kin) in a coverage build:
# 2.4 million five-line warnings, 500 MB of log. They are left out here
# and counted in one line; everything else passes through as it comes.

/^WARNING: modpost: .*\(__llvm_[a-z_]*\): unexpected non-allocatable section\.$/ {
	left_out++
	dropping = 1
	next
}
dropping && (/^Did you forget to use "ax"\/"aw" in a \.S file\?$/ ||
	     /^Note that for example <linux\/init\.h> contains$/ ||
	     /^section definitions for use in \.S files\.$/ || /^$/) {
	next
}
{
	dropping = 0
	print
	fflush()
}
END {
	if (left_out)
		printf "(%d modpost warnings about clang coverage sections left out)\n", left_out
}
