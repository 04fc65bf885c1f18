#
# Cookbook:: dropcap
# Recipe:: default
#
# Deploys one dropcap binary with its file capability cap_net_bind_service,cap_setpcap=p.
# The decisions are made by dropcap-setcap, which the repository's tests exercise against real
# files: the atomic install, the exact capability and the safety refusals. This recipe only puts the
# pieces in place. No Chef client is packaged in Debian, so the tests only check the syntax.
require 'shellwords'

conf = node['dropcap']
setcap = conf['setcap_path']
bin = conf['bin_path']
stage = conf['stage_path']
manage_service = conf['manage_service']

raise "node['dropcap']['binary_source'] is not set" if conf['binary_source'].nil?

group conf['group'] do
  system true
end

user conf['user'] do
  system true
  gid conf['group']
  home '/nonexistent'
  manage_home false
  shell '/usr/sbin/nologin'
  comment 'dropcap web server'
end

cookbook_file setcap do
  source 'dropcap-setcap'
  owner 'root'
  group 'root'
  mode '0755'
end

directory ::File.dirname(stage) do
  owner 'root'
  group 'root'
  mode '0700'
  recursive true
end

# A plain download: no capability, readable by root only, never executed from here.
remote_file stage do
  source conf['binary_source']
  checksum conf['binary_checksum'] if conf['binary_checksum']
  owner 'root'
  group 'root'
  mode '0600'
end

# Copy to a temporary file next to bin_path, set owner, mode and capability on it, verify it,
# then rename it over bin_path. The guard skips the step when the installed binary is the staged one
# and still carries a capability that takes effect. A copy, an rsync or an upgrade that dropped it
# makes `--check` fail, so the capability is applied again.
execute 'install dropcap with its file capability' do
  command [setcap, '--install', '--group', conf['group'], stage, bin]
  not_if "#{Shellwords.escape(setcap)} --check #{Shellwords.escape(bin)} && " \
         "cmp -s #{Shellwords.escape(stage)} #{Shellwords.escape(bin)}"
  notifies :run, 'execute[upgrade dropcap]', :delayed if manage_service
end

directory conf['conf_dir'] do
  owner 'root'
  group conf['group']
  mode '0750'
end

{ 'cert' => '0640', 'key' => '0640' }.each do |kind, mode|
  next if conf["#{kind}_source"].nil?

  remote_file conf["#{kind}_path"] do
    source conf["#{kind}_source"]
    owner 'root'
    group conf['group']
    mode mode
    sensitive true if kind == 'key'
    notifies :restart, 'service[dropcap]', :delayed if manage_service
  end
end

# Session ticket keys (see the attributes): the same file on every node, root:group 0640, the
# mode dropcap accepts for a secret its group reads. Before the configuration that names it:
# `dropcap check` reads it.
tickets = conf['ticket_keys_enabled'] && conf['https'] != 'off'
ticket_path = conf['ticket_key_path']
if tickets
  keys = conf['ticket_keys'].to_a
  if conf['ticket_keys_data_bag']
    bag, item = conf['ticket_keys_data_bag']
    keys = data_bag_item(bag, item)['keys'].to_a
  end
  if keys.empty?
    execute 'make a session ticket key' do
      command ['sh', '-c', 'umask 077 && head -c 80 /dev/urandom >"$1.new" && mv "$1.new" "$1"',
               'sh', ticket_path]
      creates ticket_path
    end
    file ticket_path do
      owner 'root'
      group conf['group']
      mode '0640'
    end
  else
    file ticket_path do
      content DropcapTicketKeys.file_bytes(keys, conf['ticket_keys_kept'])
      owner 'root'
      group conf['group']
      mode '0640'
      sensitive true
      notifies :reload, 'service[dropcap]', :delayed if manage_service
    end
  end
end

sites = conf['sites'].to_a
config_path = sites.empty? ? nil : conf['config_path']

if config_path
  sites.each do |site|
    directory site['root'] do
      action :create
      not_if { ::File.directory?(site['root']) }
    end
  end

  # In place only when `dropcap check` accepts it (every key and value, the roots, the
  # certificates and keys): a bad attribute fails the run and the running file stays. Readable by
  # the dropcap group: dropcap reads it again on SIGHUP, as the dropcap user.
  template config_path do
    source 'dropcap.conf.erb'
    owner 'root'
    group conf['group']
    mode '0640'
    variables(https: conf['https'], http: conf['http'], access_log: conf['access_log'],
              server_options: conf['server_options'].to_h, sites: sites,
              ticket_key_file: tickets ? ticket_path : nil)
    verify "#{Shellwords.escape(bin)} check --config %{path}"
    notifies :restart, 'service[dropcap]', :delayed if manage_service
  end
else
  directory conf['root'] do
    action :create
    not_if { ::File.directory?(conf['root']) }
  end

  opts = ['--root', conf['root'], '--https', conf['https'], '--http', conf['http']]
  opts += ['--cert', conf['cert_path'], '--key', conf['key_path']] unless conf['https'] == 'off'
  opts += ['--access-log', conf['access_log']] if conf['access_log']
  opts += ['--ticket-key-file', ticket_path] if tickets
  opts += conf['extra_args'].to_a

  template conf['env_path'] do
    source 'dropcap.env.erb'
    owner 'root'
    group 'root'
    mode '0644'
    variables(opts: opts.join(' '))
    notifies :restart, 'service[dropcap]', :delayed if manage_service
  end
end

# Written even when manage_service is false, so that it can be enabled later.
template conf['unit_path'] do
  source 'dropcap.service.erb'
  owner 'root'
  group 'root'
  mode '0644'
  variables(bin_path: bin, user: conf['user'], group: conf['group'], env_path: conf['env_path'],
            config_path: config_path)
  notifies :run, 'execute[systemctl daemon-reload]', :immediately if manage_service
  notifies :restart, 'service[dropcap]', :delayed if manage_service
end

if manage_service
  execute 'systemctl daemon-reload' do
    action :nothing
  end

  service 'dropcap' do
    service_name 'dropcap.service'
    action %i(enable start)
  end

  # A new binary: an upgrade (SIGUSR2), not a restart. The running dropcap starts the binary at
  # its path with its listening sockets (no connection is cut, no capability is needed) and
  # exits once the new one serves; if the new one fails, the old one keeps serving and this
  # resource fails. Only when the main process runs a replaced binary (not after a restart or
  # the first start). A restart queued as well runs after it, onto the new binary too.
  execute 'upgrade dropcap' do
    action :nothing
    command <<~SH
      set -eu
      unit=dropcap.service
      systemctl is-active --quiet "$unit" || exit 0
      old=$(systemctl show --property=MainPID --value "$unit")
      case $(readlink "/proc/$old/exe") in *" (deleted)") ;; *) exit 0 ;; esac
      systemctl kill --kill-who=main --signal=USR2 "$unit"
      for i in $(seq 70); do
        new=$(systemctl show --property=MainPID --value "$unit")
        if [ "$new" != "$old" ] && [ "$new" != 0 ]; then exit 0; fi
        sleep 0.5
      done
      echo "$unit still runs the old binary: the new one did not start (journalctl -u $unit)" >&2
      exit 1
    SH
  end
end
