##############################################################################
# Zenoss version, written by the build from ZVersion.py.in.
# Do not edit: the next package upgrade writes it again.
##############################################################################

VERSION = "4.2.5"
BUILD_NUMBER = "2108"
