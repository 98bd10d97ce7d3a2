#!/bin/sh
echo "${GREETING} from $(uname -m): $(cat /etc/built-for)"
