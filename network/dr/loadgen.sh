#!/bin/sh
# The clerk's write load where the township router has no python3 (network/dr/loadgen.py is the
# one normally run; this does the same with curl and dig, one write per line of the ids file:
# "<request id> <resident ID>", retried with the same request id until acknowledged).
# Arguments: name source cafile certfile keyfile ids township seconds interval timeout log server...
name=$1 source=$2 cafile=$3 certfile=$4 keyfile=$5 ids=$6 township=$7 seconds=$8 interval=$9
shift 9
timeout=$1 log=$2
shift 2
end=$(($(date +%s) + ${seconds%.*}))
resolve() {
    for server in "$@"; do
        found=$(dig +short +time=1 +tries=1 -b "$source" "@$server" "$name" A 2>/dev/null | grep -E '^[0-9.]+$' | head -n 1)
        [ -n "$found" ] && { echo "$found"; return; }
    done
}
while read -r id number; do
    while :; do
        [ "$(date +%s)" -ge "$end" ] && exit 0
        [ -e "$log.stop" ] && exit 0
        begin=$(date +%s.%N)
        address=$(resolve "$@")
        status=dns
        if [ -n "$address" ]; then
            body="{\"request_id\":\"$id\",\"id_number\":\"$number\",\"name\":\"drill\",\"township\":\"$township\"}"
            status=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$timeout" --interface "$source" \
                --cacert "$cafile" --cert "$certfile" --key "$keyfile" --resolve "$name:443:$address" -H 'Content-Type: application/json' \
                -H "X-Request-Id: $id" --data "$body" "https://$name/api/v1/enrollments")
            [ "$status" = 000 ] && status=curl
        fi
        printf '{"id":"%s","start":%s,"end":%s,"status":"%s","address":"%s"}\n' \
            "$id" "$begin" "$(date +%s.%N)" "$status" "$address" >>"$log"
        sleep "$interval"
        case $status in 200 | 201) break ;; esac
    done
done <"$ids"
