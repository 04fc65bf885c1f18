# Attributes of the dropcap cookbook (the same settings as the Ansible role's defaults).

# Where the built binary comes from: a URL, or file:///path on the node.
default['dropcap']['binary_source'] = nil
default['dropcap']['binary_checksum'] = nil # SHA-256, recommended with a URL

default['dropcap']['bin_path'] = '/usr/local/bin/dropcap'
default['dropcap']['setcap_path'] = '/usr/local/sbin/dropcap-setcap'
# The binary is downloaded here first (root only, no capability), then installed atomically.
default['dropcap']['stage_path'] = '/var/cache/dropcap/dropcap'
default['dropcap']['conf_dir'] = '/etc/dropcap'
default['dropcap']['env_path'] = '/etc/dropcap/dropcap.env'
default['dropcap']['unit_path'] = '/etc/systemd/system/dropcap.service'

# Members of this group, and root, may execute the binary (root:GROUP 0750).
default['dropcap']['user'] = 'dropcap'
default['dropcap']['group'] = 'dropcap'

default['dropcap']['root'] = '/var/www/html'
default['dropcap']['https'] = ':443' # ADDR:PORT or 'off'
default['dropcap']['http'] = ':80'   # ADDR:PORT or 'off'
default['dropcap']['cert_path'] = '/etc/dropcap/cert.pem'
default['dropcap']['key_path'] = '/etc/dropcap/key.pem'
# URLs (or file:// paths) to fetch the certificate and key from; nil when something else
# (certbot, an ACME cookbook) manages the files.
default['dropcap']['cert_source'] = nil
default['dropcap']['key_source'] = nil
# Session ticket keys shared by every node (dropcap --ticket-key-file), so that a client resumes
# its TLS session on whichever node a load balancer sends it to. The keys, base64 of 80 random
# bytes each (openssl rand -base64 80), newest first: in 'ticket_keys', or in a data bag item
# named by 'ticket_keys_data_bag' (['BAG', 'ITEM'], its "keys" array; an encrypted bag or Chef
# Vault item works the same). Rotate by putting a new key first (DropcapTicketKeys.rotate,
# libraries/ticket_keys.rb): the newest 'ticket_keys_kept' go into the file and dropcap reloads.
# Neither given: the node makes a key of its own once (a single node, nothing shared).
default['dropcap']['ticket_keys_enabled'] = true # only when https is not 'off'
default['dropcap']['ticket_key_path'] = '/etc/dropcap/tickets.key'
default['dropcap']['ticket_keys'] = []
default['dropcap']['ticket_keys_data_bag'] = nil
default['dropcap']['ticket_keys_kept'] = 2
default['dropcap']['access_log'] = nil # nil: stdout, into the journal
default['dropcap']['extra_args'] = []

# Configuration-file mode: a non-empty list of sites writes config_path (INI, see dropcap(8)
# "CONFIGURATION FILE"), verified with `dropcap check --config` before it goes in place, and the
# unit runs `dropcap --config` (root, extra_args and the env file are then unused; https, http
# and access_log still apply). Each site: 'names' (NAME[,NAME...]), 'root', optionally 'cert'
# and 'key' (paths on the node) and 'options' (more keys of the site; an array repeats the key).
# The first site is the default one. For example:
#   [{ 'names' => 'example.org,www.example.org', 'root' => '/srv/www',
#      'cert' => '/etc/letsencrypt/live/example.org/fullchain.pem',
#      'key' => '/etc/letsencrypt/live/example.org/privkey.pem' },
#    { 'names' => 'docs.example.org', 'root' => '/srv/docs', 'options' => { 'autoindex' => true } }]
default['dropcap']['sites'] = []
default['dropcap']['config_path'] = '/etc/dropcap/dropcap.conf'
default['dropcap']['server_options'] = {} # more server-wide keys, e.g. { 'max-conns' => 2000 }

# false on nodes without systemd as PID 1: the unit is written, nothing is started.
default['dropcap']['manage_service'] = true
