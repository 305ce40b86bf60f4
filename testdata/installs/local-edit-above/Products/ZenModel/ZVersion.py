##############################################################################
# Zenoss version, written by the build from ZVersion.py.in.
# Do not edit: the next package upgrade writes it again.
##############################################################################

VERSION = "4.2.4"
BUILD_NUMBER = "1985"
