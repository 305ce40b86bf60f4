# Zenoss version, written by the build from ZVersion.py.in.
BUILD_NUMBER='954'
VERSION='3.1.0'
