#!/bin/sh
# Creates a development PKI for Strait in OUTDIR (EC P-256 keys, so it takes well under a second):
#
#   ca-example.org.{pem,key} ca-other.org.{pem,key}   one CA per SPIFFE trust domain
#   server.{pem,key}     CN=api.example.com; DNS localhost, api.example.com, *.example.com,
#                        IP 127.0.0.1; URI spiffe://example.org/ns/edge/sa/gateway (example.org CA)
#   wildcard.{pem,key}   CN=*.example.com                                  (example.org CA)
#   default.{pem,key}    CN=default.local; DNS localhost, IP 127.0.0.1      (example.org CA)
#   upstream.{pem,key}   CN=backend.internal; DNS backend.internal, IP 127.0.0.1 (example.org CA)
#   client.{pem,key}     URI spiffe://example.org/ns/default/sa/web        (example.org CA)
#   client-other.{pem,key}  URI spiffe://other.org/ns/batch/sa/job         (other.org CA)
# and the bad client certificates, each for a case mTLS must reject:
#   bad-expired          valid 2020-01-01 .. 2021-01-01                    (example.org CA)
#   bad-notyet           valid from 2099-01-01                             (example.org CA)
#   bad-wrongdomain      claims spiffe://example.org/... but signed by the other.org CA
#   bad-selfsigned       claims spiffe://example.org/..., signed by its own key
#   bad-usage            keyUsage keyEncipherment only, EKU serverAuth only (example.org CA)
#   bad-nouri            no URI SAN (DNS only)                             (example.org CA)
#   bad-twouri           two URI SANs                                      (example.org CA)
#
# Usage: certs/make-dev-certs.sh OUTDIR     (needs only the openssl command line tool)
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUT=$1
mkdir -p "$OUT"
cd "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

serial() { echo "0x$(openssl rand -hex 8)"; }
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# make_ca DOMAIN
make_ca() {
  newkey "ca-$1"
  openssl req -new -x509 -key "ca-$1.key" -out "ca-$1.pem" -days 3650 -set_serial "$(serial)" \
    -subj "/O=Strait dev/CN=$1 CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
}

# ext_file NAME SAN KEYUSAGE EKU
ext_file() {
  cat > "$WORK/$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,$3
extendedKeyUsage=$4
subjectAltName=$2
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
}

# leaf NAME CA_DOMAIN SUBJECT SAN [KEYUSAGE] [EKU]
leaf() {
  name=$1 ca=$2 subject=$3 san=$4
  ku=${5:-digitalSignature,keyEncipherment}
  eku=${6:-serverAuth,clientAuth}
  newkey "$name"
  ext_file "$name" "$san" "$ku" "$eku"
  openssl req -new -key "$name.key" -subj "$subject" -out "$WORK/$name.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/$name.csr" -CA "ca-$ca.pem" -CAkey "ca-$ca.key" \
    -set_serial "$(serial)" -days 825 -extfile "$WORK/$name.ext" -out "$name.pem" 2>/dev/null
}

# leaf_dated NAME CA_DOMAIN SUBJECT SAN STARTDATE ENDDATE  (openssl ca: explicit validity)
leaf_dated() {
  name=$1 ca=$2 subject=$3 san=$4
  newkey "$name"
  ext_file "$name" "$san" "digitalSignature" "clientAuth"
  db="$WORK/db-$name"
  mkdir -p "$db"
  : > "$db/index.txt"
  openssl rand -hex 8 > "$db/serial"
  cat > "$db/ca.cnf" <<CNF
[ca]
default_ca = dev
[dev]
database = $db/index.txt
serial = $db/serial
new_certs_dir = $db
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
organizationName = optional
CNF
  openssl req -new -key "$name.key" -subj "$subject" -out "$WORK/$name.csr" 2>/dev/null
  openssl ca -batch -config "$db/ca.cnf" -cert "ca-$ca.pem" -keyfile "ca-$ca.key" \
    -startdate "$5" -enddate "$6" -extfile "$WORK/$name.ext" -notext \
    -in "$WORK/$name.csr" -out "$name.pem" 2>/dev/null
}

make_ca example.org
make_ca other.org

leaf server example.org "/O=Strait dev/CN=api.example.com" \
  "DNS:localhost,DNS:api.example.com,DNS:*.example.com,IP:127.0.0.1,URI:spiffe://example.org/ns/edge/sa/gateway"
leaf wildcard example.org "/O=Strait dev/CN=*.example.com" "DNS:*.example.com"
leaf default example.org "/O=Strait dev/CN=default.local" "DNS:default.local,DNS:localhost,IP:127.0.0.1"
leaf upstream example.org "/O=Strait dev/CN=backend.internal" "DNS:backend.internal,IP:127.0.0.1"
leaf client example.org "/O=Strait dev/CN=web" "URI:spiffe://example.org/ns/default/sa/web" \
  digitalSignature clientAuth
leaf client-other other.org "/O=Strait dev/CN=job" "URI:spiffe://other.org/ns/batch/sa/job" \
  digitalSignature clientAuth

leaf_dated bad-expired example.org "/O=Strait dev/CN=expired" \
  "URI:spiffe://example.org/ns/default/sa/expired" 20200101000000Z 20210101000000Z
leaf_dated bad-notyet example.org "/O=Strait dev/CN=notyet" \
  "URI:spiffe://example.org/ns/default/sa/notyet" 20990101000000Z 20991231000000Z
# Signed by other.org but claiming example.org: Strait must check it against the example.org
# bundle only, where it has no issuer.
leaf bad-wrongdomain other.org "/O=Strait dev/CN=wrongdomain" \
  "URI:spiffe://example.org/ns/default/sa/web" digitalSignature clientAuth
leaf bad-usage example.org "/O=Strait dev/CN=usage" "URI:spiffe://example.org/ns/default/sa/usage" \
  keyEncipherment serverAuth
leaf bad-nouri example.org "/O=Strait dev/CN=nouri" "DNS:nouri.example.com" \
  digitalSignature clientAuth
leaf bad-twouri example.org "/O=Strait dev/CN=twouri" \
  "URI:spiffe://example.org/ns/default/sa/a,URI:spiffe://example.org/ns/default/sa/b" \
  digitalSignature clientAuth
newkey bad-selfsigned
openssl req -new -x509 -key bad-selfsigned.key -out bad-selfsigned.pem -days 365 \
  -set_serial "$(serial)" -subj "/O=Strait dev/CN=selfsigned" \
  -addext "subjectAltName=URI:spiffe://example.org/ns/default/sa/web" \
  -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=clientAuth" 2>/dev/null

chmod 600 ./*.key
