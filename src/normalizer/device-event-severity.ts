import type { Severity } from '../config/file-schema';
import { own } from '../shared/own';

/**
 * Severities of device, Mist Edge and other-device event types (topics `device-events`,
 * `device-updowns`, `mxedge-events`). Mist publishes the types (`GET /api/v1/const/device_events`,
 * `/const/mxedge_events`, `/const/otherdevice_events`; the lists as Mist's own webhook translator
 * saved them, 123 + 46 keys, and the trigger/clear pairs of TOPICS.md section 8) but no severity,
 * and device events carry at most a generic `ev_type` (NOTICE/warn). These are ours, by meaning:
 *
 * - high: the hardware of a Mist Edge or a switch chassis is failing (power, fans, partitions);
 * - medium: a device or a service is down, disconnected, refused or failing (config, upgrade,
 *   RADSEC, VPN/HA/OSPF, tunnels), and changes of role that interrupt traffic (VC master change,
 *   HA redundancy group state, HA health weight low, a VC member removed);
 * - low: routine but notable (restarts, STP topology changes, BGP state changes, radar hits,
 *   service restarts, resource usage reports);
 * - informational: everything else (connected, configured, assigned, claimed, upgraded, cleared).
 *
 * A type not listed falls back to its words (down/failed/disconnected… → medium). Never lower a
 * down or a failure below medium: the contract's default for them.
 */
const TABLE: Readonly<Record<string, Severity>> = {
  // Mist Edge hardware
  ME_PSU_UNPLUGGED: 'high',
  ME_FAN_UNPLUGGED: 'high',
  ME_POWERINPUT_DISCONNECTED: 'high',
  SW_ALARM_CHASSIS_PSU: 'high',
  SW_ALARM_CHASSIS_PEM: 'high',
  SW_ALARM_CHASSIS_FAN: 'high',
  SW_ALARM_CHASSIS_HOT: 'high',
  SW_ALARM_CHASSIS_PARTITION: 'high',
  // down, refused, failing
  AP_DISCONNECTED: 'medium',
  SW_DISCONNECTED: 'medium',
  GW_DISCONNECTED: 'medium',
  ME_DISCONNECTED: 'medium',
  AP_CONFIG_FAILED: 'medium',
  SW_CONFIG_FAILED: 'medium',
  GW_CONFIG_FAILED: 'medium',
  SW_CONFIG_LOCK_FAILED: 'medium',
  GW_CONFIG_LOCK_FAILED: 'medium',
  AP_UPGRADE_FAILED: 'medium',
  SW_UPGRADE_FAILED: 'medium',
  GW_UPGRADE_FAILED: 'medium',
  ME_PACKAGE_INSTALL_FAILED: 'medium',
  ME_PACKAGE_UNINSTALL_FAILED: 'medium',
  ME_PACKAGE_UPDATE_FAILED: 'medium',
  ME_SERVICE_CRASHED: 'medium',
  ME_SERVICE_FAILED: 'medium',
  ME_SERVICE_STOPPED: 'medium',
  AP_RADSEC_FAILURE: 'medium',
  AP_BEACON_STUCK: 'medium',
  AP_PORT_DOWN: 'medium',
  SW_PORT_DOWN: 'medium',
  GW_PORT_DOWN: 'medium',
  SW_HANDSHAKE_ERROR: 'medium',
  SW_REJECTED: 'medium',
  GW_REJECTED: 'medium',
  SW_PORT_BPDU_BLOCKED: 'medium',
  SW_PORT_STORM_CONTROL: 'medium',
  SW_LOOP_DETECTED: 'medium',
  SW_MAC_LIMIT_EXCEEDED: 'medium',
  SW_DDOS_PROTOCOL_VIOLATION_SET: 'medium',
  SW_EVPN_CORE_ISOLATED: 'medium',
  SW_LACPD_TIMEOUT: 'medium',
  SW_ALARM: 'medium',
  GW_ALARM: 'medium',
  SW_ALARM_CHASSIS_POE: 'medium',
  SW_ALARM_CHASSIS_HUMIDITY: 'medium',
  SW_ALARM_CHASSIS_MGMT_LINK_DOWN: 'medium',
  SW_ALARM_IOT_SET: 'medium',
  SW_VC_MASTER_CHANGED: 'medium',
  SW_VC_MEMBER_DELETED: 'medium',
  SW_VC_PORT_DOWN: 'medium',
  SW_VC_IN_TRANSITION: 'medium',
  SW_OSPF_NEIGHBOR_DOWN: 'medium',
  SW_BGP_NEIGHBOR_DOWN: 'medium',
  SW_RECOVERY_SNAPSHOT_FAILED: 'medium',
  GW_OSPF_NEIGHBOR_DOWN: 'medium',
  GW_BGP_NEIGHBOR_DOWN: 'medium',
  GW_VPN_PATH_DOWN: 'medium',
  GW_VPN_PEER_DOWN: 'medium',
  GW_TUNNEL_DOWN: 'medium',
  GW_CONDUCTOR_DISCONNECTED: 'medium',
  GW_ARP_UNRESOLVED: 'medium',
  GW_DHCP_UNRESOLVED: 'medium',
  GW_HA_CONTROL_LINK_DOWN: 'medium',
  GW_HA_HEALTH_WEIGHT_LOW: 'medium',
  GW_RG_STATE_CHANGED: 'medium',
  GW_PORT_RG_ST_CHANGED: 'medium',
  GW_FLOW_COUNT_THRESHOLD_EXCEEDED: 'medium',
  GW_FIB_COUNT_THRESHOLD_EXCEEDED: 'medium',
  TT_TUNNELS_LOST: 'medium',
  TT_PORT_LINK_DOWN: 'medium',
  TT_PORT_BLOCKED: 'medium',
  TT_PORT_DROPPED_FROM_LACP: 'medium',
  TT_AP_DISCONNECTED: 'medium',
  TT_AP_DISCONNECT_FAILED: 'medium',
  TT_PORTS_BOUNCE_FAILED: 'medium',
  ESL_HUNG: 'medium',
  NAC_CLIENT_DENY: 'medium',
  CELLULAR_EDGE_DISCONNECTED: 'medium',
  CELLULAR_EDGE_MODEM_WAN_UNPLUGGED: 'medium',
  // routine but notable
  AP_RESTARTED: 'low',
  SW_RESTARTED: 'low',
  GW_RESTARTED: 'low',
  ME_RESTARTED: 'low',
  AP_RESTART_BY_USER: 'low',
  SW_RESTART_BY_USER: 'low',
  GW_RESTART_BY_USER: 'low',
  ME_RESTART_BY_USER: 'low',
  AP_RADAR_DETECTED: 'low',
  SW_STP_TOPO_CHANGED: 'low',
  SW_BGP_NEIGHBOR_STATE_CHANGED: 'low',
  GW_BGP_NEIGHBOR_STATE_CHANGED: 'low',
  SW_VC_BACKUP_ELECTED: 'low',
  SW_SYSTEM_SERVICE_RESTART: 'low',
  GW_SYSTEM_SERVICE_RESTART: 'low',
  SW_MASTER_ON_RECOVERY: 'low',
  SW_MEMBER_ON_RECOVERY: 'low',
  ME_SERVICE_RESTARTED: 'low',
  ME_RESOURCE_USAGE: 'low',
  TT_PORTS_BOUNCED: 'low',
  SW_UPGRADE_PENDING: 'low',
  GW_UPGRADE_PENDING: 'low',
};

export function deviceEventSeverity(type: string): Severity | undefined {
  return own(TABLE, type.toUpperCase());
}

/** The types in the table, for the metric label allow-list. */
export const DEVICE_EVENT_TYPES: readonly string[] = Object.keys(TABLE);
