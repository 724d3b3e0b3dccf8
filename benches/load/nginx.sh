# nginx configurations for the load benchmark (sourced by run.sh): functions only.
# shellcheck shell=bash

nginx_conf() { # NAME BODY: a single-process nginx
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/$1/body;
  proxy_temp_path $WORK/$1/proxy;
  fastcgi_temp_path $WORK/$1/fastcgi;
  uwsgi_temp_path $WORK/$1/uwsgi;
  scgi_temp_path $WORK/$1/scgi;
  keepalive_requests 1000000;
  $2
}
CONF
}

nginx_proxy() { # LISTEN [DIRECTIVES]: nginx_conf's body, proxy_pass to the upstream
  echo "upstream app { server 127.0.0.1:$UP; keepalive 64; }
  server { listen $1; ${2:-}location / {
    proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
}

# nginx-authz: the proxy asks an authorizer (a subrequest, without the
# body, on a keep-alive connection) before each proxy_pass; the authorizer
# decides nothing and answers 204. Both single-process, on the proxy core.
# cerbos-authz (cerbos.sh) is the same proxy, its subrequest also carrying
# the original method and URI (DIRECTIVES), to the Cerbos adapter.
nginx_authz() { # PORT AUTHZ_PORT [DIRECTIVES of the subrequest]: the proxy's nginx_conf body
  echo "upstream app { server 127.0.0.1:$UP; keepalive 64; }
  upstream authz { server 127.0.0.1:$2; keepalive 64; }
  server { listen 127.0.0.1:$1;
    location / { auth_request /_authz;
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    location = /_authz { internal; proxy_pass http://authz; proxy_pass_request_body off;
      proxy_set_header Content-Length \"\"; proxy_http_version 1.1; proxy_set_header Connection \"\";
      ${3:-} } }"
}
authorizer() { # PORT: the authorizer's nginx_conf body
  echo "server { listen 127.0.0.1:$1; location / { return 204; } }"
}
